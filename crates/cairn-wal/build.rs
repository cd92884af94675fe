//! Declares the crate-private `cairn_ablate` cfg (sync ablation, see `src/ablate.rs`) so
//! that building with `--cfg cairn_ablate` does not trip the `unexpected_cfgs` lint.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(cairn_ablate)");
}
