//! Sync ablation: switch off one fsync / directory-fsync call site at a time to prove that
//! the crash tests notice. Compiled in only with `--cfg cairn_ablate`; the site to switch
//! off is named by the `CAIRN_ABLATE` environment variable. In normal builds `skip` is a
//! constant `false` and the call sites compile to plain syncs.
//!
//! Sites: `leader_fsync`, `seal_fsync`, `segment_dir_fsync`, `header_fsync`,
//! `open_parent_dir_fsync`, `front_fsync`, `front_wait_durable`, `truncate_back_fsync`,
//! `recovery_fsync`.

/// Whether the sync at `site` is switched off.
#[cfg(cairn_ablate)]
pub(crate) fn skip(site: &str) -> bool {
    std::env::var("CAIRN_ABLATE").is_ok_and(|v| v == site)
}

/// Whether the sync at `site` is switched off: never, outside ablation builds.
#[cfg(not(cairn_ablate))]
#[inline(always)]
pub(crate) const fn skip(_site: &str) -> bool {
    false
}
