//! The dashboard's routes: each page planned against the target afresh and answered as HTML or
//! JSON (the same document as the CLI's `--json`), the journal's history, the diagrams as SVG,
//! `/metrics`, and the controller's page and approvals.

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use labform_diagram::{Format, View};

use anyhow::Context as _;

use super::access::{authorise, same_origin};
use super::{Dashboard, Shared, metrics, pages, session};
use crate::reality::Against;

pub(super) fn router(dashboard: Shared) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/", planned_page(&STATUS))
        .route("/plan", planned_page(&PLAN))
        .route("/history", get(history_page))
        .route("/drift", planned_page(&DRIFT))
        .route("/diagram", planned_page(&DIAGRAM))
        .route("/diagram/{view}", get(diagram_svg))
        .route("/metrics", get(metrics_page))
        .route("/controller", get(controller_page))
        .route("/controller/approve", axum::routing::post(approve))
        .layer(axum::middleware::from_fn_with_state(
            dashboard.clone(),
            authorise,
        ))
        .route("/login", get(session::login_page).post(session::log_in))
        .with_state(dashboard)
}

/// The query of every page.
#[derive(Debug, Default, serde::Deserialize)]
struct PageQuery {
    /// `json` for the JSON answer.
    format: Option<String>,
    /// `/history`: the run whose actions to show.
    run: Option<i64>,
}

fn wants_json(headers: &HeaderMap, query: &PageQuery) -> bool {
    query.format.as_deref() == Some("json")
        || headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("application/json"))
}

fn json(value: &serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(value).expect("serialisable") + "\n",
    )
        .into_response()
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// The lab planned against its target now, or the page saying why not. The planning runs on a
/// blocking thread of its own (its future is not `Send`, so no handler can hold it), on this
/// runtime.
async fn against(dashboard: &Shared) -> Result<Against, Failure> {
    let dashboard = dashboard.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(plan_now(&dashboard)))
        .await
        .unwrap_or_else(|error| {
            Err(failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("planning stopped: {error}"),
            ))
        })
}

async fn plan_now(dashboard: &Dashboard) -> Result<Against, Failure> {
    let counters = &dashboard.counters;
    let file = dashboard.file()?;
    let mut meters = Vec::new();
    let outcome = crate::reality::plan_against_target_through(
        &file,
        &dashboard.target,
        &dashboard.lock,
        crate::reality::Preflight::Skip,
        labform_executor::Refresh::ReadConfigs,
        |connected| meters = metrics::Counters::meter(connected),
    )
    .await;
    counters.settle(metrics::Caller::Dashboard, meters);
    match outcome {
        Ok(Ok(against)) => {
            counters.refreshed(true);
            Ok(against)
        }
        Ok(Err(_)) => {
            counters.refreshed(false);
            Err(failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The lab file has errors: `labform validate` shows them (the server's output has them too).",
            ))
        }
        Err(error) => {
            counters.failed(&error);
            counters.refreshed(false);
            let mut text = error.to_string();
            for cause in error.chain().skip(1) {
                text.push_str("\n  caused by: ");
                text.push_str(&cause.to_string());
            }
            Err(failure(StatusCode::BAD_GATEWAY, &text))
        }
    }
}

/// Why a page cannot be shown: its status and text.
pub(super) struct Failure {
    status: StatusCode,
    text: String,
}

pub(super) fn failure(status: StatusCode, text: &str) -> Failure {
    Failure {
        status,
        text: text.to_owned(),
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, html(pages::failure(&self.text))).into_response()
    }
}

/// A page made from the lab planned against its target: its JSON answer and its HTML, from
/// the same planning.
struct PlannedPage {
    json: fn(&Against) -> Response,
    html: fn(&Against) -> String,
}

/// `/`: what exists, as `labform status --json` says it.
const STATUS: PlannedPage = PlannedPage {
    json: |against| json(&crate::commands::status::status_json(against)),
    html: pages::status,
};

/// `/plan`: the changes, as `labform plan --json` says them.
const PLAN: PlannedPage = PlannedPage {
    json: |against| json(&crate::commands::plan::changes_json(against)),
    html: pages::plan,
};

/// `/drift`: what was changed by hand, as `labform drift --json --skip-clusters` says it.
const DRIFT: PlannedPage = PlannedPage {
    json: |against| json(&crate::commands::drift::ProxmoxDrift::of(against).json(against)),
    html: |against| pages::drift(against, &crate::commands::drift::ProxmoxDrift::of(against)),
};

/// `/diagram`: the live diagrams, as `labform diagram --format json` draws them.
const DIAGRAM: PlannedPage = PlannedPage {
    json: |against| {
        let text = labform_diagram::render(
            &against.plan,
            Some(&against.reconciliation),
            View::All,
            Format::Json,
        );
        ([(header::CONTENT_TYPE, "application/json")], text).into_response()
    },
    html: pages::diagram,
};

/// The route of a planned page: the lab planned now, then the page's JSON or HTML.
fn planned_page(page: &'static PlannedPage) -> axum::routing::MethodRouter<Shared> {
    axum::routing::get(
        move |State(dashboard): State<Shared>,
              Query(query): Query<PageQuery>,
              headers: HeaderMap| async move {
            match against(&dashboard).await {
                Ok(against) if wants_json(&headers, &query) => (page.json)(&against),
                Ok(against) => html((page.html)(&against)),
                Err(failure) => failure.into_response(),
            }
        },
    )
}

/// The scope's journal, as `labform history` (with `--sim` when the target is the simulator)
/// opens it.
fn journal(dashboard: &Dashboard) -> anyhow::Result<(String, labform_executor::Journal)> {
    let file = dashboard
        .file()
        .map_err(|failure| anyhow::anyhow!("{}", failure.text))?;
    let loaded = labform_model::load(&labform_model::RealFileSystem, &file);
    let lab = loaded
        .lab
        .with_context(|| format!("cannot load {}", file.display()))?;
    let scope = lab.scope().to_owned();
    let journal = crate::open_journal(dashboard.journal.as_deref(), &scope, dashboard.target.sim)?;
    Ok((scope, journal))
}

async fn history_page(
    State(dashboard): State<Shared>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let read = journal(&dashboard).and_then(|(scope, journal)| {
        crate::commands::history::History::read(&journal, &scope, query.run, 10)
    });
    let history = match read {
        Ok(history) => history,
        Err(error) => {
            return failure(StatusCode::INTERNAL_SERVER_ERROR, &format!("{error:#}"))
                .into_response();
        }
    };
    if wants_json(&headers, &query) {
        return json(&history.json());
    }
    let note = dashboard
        .controller
        .get()
        .map(|controller| pages::follower_note(&controller.status()))
        .unwrap_or_default();
    html(pages::history(&history, &note))
}

async fn diagram_svg(State(dashboard): State<Shared>, UrlPath(view): UrlPath<String>) -> Response {
    let view = match view.as_str() {
        "clusters" => View::Clusters,
        "infrastructure" => View::Infrastructure,
        "all" => View::All,
        _ => return (StatusCode::NOT_FOUND, "no such view\n").into_response(),
    };
    let against = match against(&dashboard).await {
        Ok(against) => against,
        Err(failure) => return failure.into_response(),
    };
    let svg = labform_diagram::render(
        &against.plan,
        Some(&against.reconciliation),
        view,
        Format::Svg,
    );
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}

async fn metrics_page(State(dashboard): State<Shared>) -> Response {
    let against = against(&dashboard).await.ok();
    let figures = journal(&dashboard)
        .and_then(|(scope, journal)| {
            Ok(metrics::JournalFigures {
                runs: journal.runs(&scope, 1)?,
                durations: journal.durations(&scope)?,
                calls: journal.call_totals(&scope)?,
            })
        })
        .unwrap_or_default();
    let controller = dashboard
        .controller
        .get()
        .map(|controller| controller.status());
    let text = metrics::render(
        against.as_ref(),
        &figures,
        &dashboard.counters,
        controller.as_ref(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `/controller`: what the controller did and waits for (404 without `--git`).
async fn controller_page(
    State(dashboard): State<Shared>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(controller) = dashboard.controller.get() else {
        return failure(
            StatusCode::NOT_FOUND,
            "labform serve runs without --git: there is no controller.",
        )
        .into_response();
    };
    let status = controller.status();
    let runs = journal(&dashboard)
        .and_then(|(scope, journal)| Ok(journal.runs(&scope, 20)?))
        .unwrap_or_default();
    if wants_json(&headers, &query) {
        return json(&serde_json::json!({ "controller": status, "runs": runs }));
    }
    html(pages::controller(&status, &runs))
}

/// The approval's query: the commit whose pending changes are approved.
#[derive(Debug, serde::Deserialize)]
struct Approval {
    commit: String,
}

/// `POST /controller/approve?commit=HASH`: approves the pending changes of that commit. Refused
/// from another site's page (its `Origin` or `Sec-Fetch-Site`), like every request without the
/// token when one is set.
async fn approve(
    State(dashboard): State<Shared>,
    Query(approval): Query<Approval>,
    headers: HeaderMap,
) -> Response {
    let Some(controller) = dashboard.controller.get() else {
        return (StatusCode::NOT_FOUND, "there is no controller (no --git)\n").into_response();
    };
    if !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "approvals come from the dashboard's own page or a client without an Origin\n",
        )
            .into_response();
    }
    match controller.approve(&approval.commit) {
        Ok(()) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/controller")],
            "approved\n",
        )
            .into_response(),
        Err(refused) => (StatusCode::CONFLICT, format!("{refused}\n")).into_response(),
    }
}
