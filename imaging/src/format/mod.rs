//! On-disk and on-wire formats. See docs/image-format.md.

pub mod manifest;

pub use manifest::{ChunkingParams, Extent, Manifest, FORMAT_VERSION};
