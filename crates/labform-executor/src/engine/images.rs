//! Images and templates: an image is downloaded once per storage (unless the storage has it),
//! a template is made once per image and storage (created from the image, then converted), each
//! by the first job that needs it and awaited by the others.

use labform_planner::ownership::Owner;
use labform_planner::plan::{PlannedImage, PlannedTemplate};
use labform_proxmox::types::{Checksum, CreateVm, DownloadUrl};

use super::{Run, StepError};

impl Run {
    /// The plan's download of image `name` on `endpoint`, preferably on `node`.
    pub(super) fn image_for(&self, endpoint: &str, name: &str, node: &str) -> Option<usize> {
        let candidates = || {
            self.plan
                .images
                .iter()
                .enumerate()
                .filter(|(_, image)| image.endpoint == endpoint && image.name == name)
        };
        candidates()
            .find(|(_, image)| image.node == node)
            .or_else(|| candidates().next())
            .map(|(index, _)| index)
    }

    /// Downloads image `index` of the plan unless this run did already.
    pub(super) async fn ensure_image(&self, index: usize) -> Result<(), StepError> {
        self.images[index]
            .get_or_init(|| self.download(&self.plan.images[index]))
            .await
            .clone()
    }

    /// Downloads `image` into its storage unless it is there.
    async fn download(&self, image: &PlannedImage) -> Result<(), StepError> {
        let api = self.api(&image.endpoint);
        let node = image.node.clone();
        let storage = image.storage.clone();
        let content = image.content.as_str();
        let present = self
            .retry_call("list storage content", || {
                api.storage_content(&node, &storage, Some(content))
            })
            .await?
            .iter()
            .any(|volume| {
                volume
                    .volid
                    .ends_with(&format!("{content}/{}", image.file_name))
            });
        if present {
            return Ok(());
        }
        let checksum = image
            .checksum
            .split_once(':')
            .map(|(algorithm, hex)| Checksum {
                algorithm: algorithm.to_owned(),
                value: hex.to_owned(),
            });
        let request = DownloadUrl {
            url: image.url.clone(),
            content: content.to_owned(),
            filename: image.file_name.clone(),
            checksum,
            // Proxmox decompresses ISOs only; the plan's images are downloaded as they are.
            compression: None,
        };
        let target = format!(
            "{} -> {}:{}/{}",
            image.name, image.node, image.storage, image.file_name
        );
        self.step("download-image", &target, api.as_ref(), || async {
            api.download_url(&node, &storage, &request).await.map(Some)
        })
        .await
    }

    /// Makes template `index` of the plan unless this run did already.
    pub(super) async fn ensure_template(&self, index: usize) -> Result<(), StepError> {
        self.templates[index]
            .get_or_init(|| self.make_template(index))
            .await
            .clone()
    }

    /// Creates template `index` (unless a stopped run did) and converts it.
    async fn make_template(&self, index: usize) -> Result<(), StepError> {
        let template = &self.plan.templates[index];
        let api = self.api(&template.endpoint);
        let node = template.node.clone();
        let target = format!(
            "{} ({}) on {}/{}",
            template.name, template.vm_id, template.node, template.storage
        );
        if !self.unconverted[index] {
            self.create_template_vm(template, &target).await?;
        }
        self.step("convert-to-template", &target, api.as_ref(), || async {
            api.convert_to_template(&node, template.vm_id)
                .await
                .map(Some)
        })
        .await
    }

    /// Creates the VM that becomes `template`, its disk imported from the image.
    async fn create_template_vm(
        &self,
        template: &PlannedTemplate,
        target: &str,
    ) -> Result<(), StepError> {
        let image_index = self
            .image_for(&template.endpoint, &template.image, &template.node)
            .ok_or_else(|| {
                StepError::Plan(format!(
                    "no download planned for image `{}`",
                    template.image
                ))
            })?;
        self.ensure_image(image_index).await?;
        let api = self.api(&template.endpoint);
        let node = template.node.clone();
        let owner = Owner {
            lab: self.plan.lab.clone(),
            scope: self.plan.scope.clone(),
            cluster: None,
            role: "template".to_owned(),
            key: template.key.clone(),
            image: Some(template.image.clone()),
            spec: template.spec.clone(),
            api_vip: None,
            load_balancers: None,
        };
        let mut request = CreateVm::new(template.vm_id).with("description", owner.block());
        for (key, value) in &template.config {
            request = request.with(key.clone(), value);
        }
        self.step("create-template", target, api.as_ref(), || async {
            api.create_vm(&node, &request).await.map(Some)
        })
        .await
    }
}
