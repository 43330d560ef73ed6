//! Structural checks of a merged lab.
