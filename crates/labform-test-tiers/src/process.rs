//! The processes tests start (servers, simulators, `labform` itself), killed when dropped, so a
//! test that fails or panics leaves none behind.

use std::ops::{Deref, DerefMut};
use std::process::Child;

/// A child process killed (SIGKILL) and waited for when dropped. It derefs to the [`Child`].
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Deref for KillOnDrop {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
