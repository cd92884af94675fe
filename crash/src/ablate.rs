//! placeholder
use anyhow::Result;
use std::path::PathBuf;
pub fn main(_j: Option<PathBuf>) -> Result<bool> {
    Ok(true)
}
