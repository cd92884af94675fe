//! Decoding mutated on-disk bytes never panics and never allocates beyond a bound: 100,000
//! mutated segment images through the in-memory decoders (which must not allocate at all),
//! and 2,000 through full recovery on `cairn-sim` (whose largest single allocation must stay
//! below the read-buffer bound whatever the length fields claim). Seeded from `CAIRN_SEED`.
#![allow(
    unsafe_code,
    reason = "a counting global allocator needs `unsafe impl GlobalAlloc`"
)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;

use cairn_io::Vfs;
use cairn_sim::SimVfs;
use cairn_wal::format::{self, FrameKind};
use cairn_wal::{Durability, RecoveryMode, Wal, WalOptions};
use common::Rng;

/// Records the largest single allocation made by this thread while tracking is on.
struct Counting;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the thread-local may be gone while a thread shuts down.
    let _ = TRACKING.try_with(|t| {
        if t.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; `note`
// only touches thread-locals and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout, which the caller guarantees valid.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout (all allocations go there).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as for `dealloc`; `new_size` comes from the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning its result, the largest single allocation and the allocation count.
fn tracked<T>(f: impl FnOnce() -> T) -> (T, usize, u64) {
    LARGEST.with(|l| l.set(0));
    COUNT.with(|c| c.set(0));
    TRACKING.with(|t| t.set(true));
    let out = f();
    TRACKING.with(|t| t.set(false));
    (out, LARGEST.with(Cell::get), COUNT.with(Cell::get))
}

const RECORD_SIZE_MAX: u32 = 1024;
const DIR: &str = "/wal";

fn options() -> WalOptions {
    WalOptions {
        segment_size_max: 8192,
        record_size_max: RECORD_SIZE_MAX,
        recovery_mode: RecoveryMode::SkipCorrupted,
        preallocate: false,
        ..WalOptions::default()
    }
}

/// A real segment image (sealed) and the newest (open) one, written through the WAL.
fn base_images(seed: u64) -> Vec<Vec<u8>> {
    let sim = SimVfs::new(seed);
    let (wal, _) = Wal::open(Path::new(DIR), options(), Arc::new(sim.clone())).unwrap();
    let mut rng = Rng(seed);
    for i in 0..60u64 {
        let len = rng.below(u64::from(RECORD_SIZE_MAX)) as usize;
        if i % 7 == 0 {
            wal.append_batch(
                &[vec![i as u8; len / 3], vec![1; 5], vec![2; 9]],
                Durability::Buffered,
            )
            .unwrap();
        } else {
            wal.append(vec![i as u8; len], Durability::Buffered)
                .unwrap();
        }
    }
    wal.close().unwrap();
    let names = sim.list(Path::new(DIR)).unwrap();
    names
        .iter()
        .filter(|n| n.ends_with(".wal"))
        .filter_map(|n| sim.file_bytes(&Path::new(DIR).join(n)))
        .collect()
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut buf = base.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        if buf.is_empty() {
            buf.push(0);
        }
        let at = rng.below(buf.len() as u64) as usize;
        match rng.below(6) {
            0 => buf[at] ^= 1 << rng.below(8),
            1 => buf[at] = rng.next_u64() as u8,
            2 => {
                // A hostile length or count field.
                let v = [
                    u32::MAX,
                    RECORD_SIZE_MAX + 1,
                    1 << 30,
                    rng.next_u64() as u32,
                ][rng.below(4) as usize];
                let end = (at + 4).min(buf.len());
                buf[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
            }
            3 => buf.truncate(at),
            4 => {
                let end = (at + 1 + rng.below(64) as usize).min(buf.len());
                buf[at..end].fill(0);
            }
            _ => {
                let from = rng.below(buf.len() as u64) as usize;
                let len = (rng.below(64) as usize)
                    .min(buf.len() - from)
                    .min(buf.len() - at);
                let chunk = buf[from..from + len].to_vec();
                buf[at..at + len].copy_from_slice(&chunk);
            }
        }
    }
    buf
}

#[test]
fn in_memory_decoders_survive_100k_mutations_without_allocating() {
    let seed = common::seed("decode_mutations");
    let bases = base_images(seed);
    assert!(bases.len() >= 2);
    let mut rng = Rng(seed ^ 0x5eed);
    let mut records = 0u64;
    let mut allocations = 0u64;
    for i in 0..100_000u32 {
        let base = &bases[i as usize % bases.len()];
        let buf = mutate(&mut rng, base);
        let salt = rng.next_u64();
        let ((scan, _), _, count) = tracked(|| {
            let scan = format::scan_buffer(&buf, RECORD_SIZE_MAX);
            let at = format::SEGMENT_HEADER_SIZE.min(buf.len());
            let frame = format::decode_frame(&buf[at..], salt, RECORD_SIZE_MAX);
            if let Ok(f) = frame {
                assert!(f.payload.len() <= RECORD_SIZE_MAX as usize || f.kind == FrameKind::Footer);
                let _ = format::Footer::decode(f.payload);
            }
            let _ = format::decode_trailer(&buf[buf.len().saturating_sub(16)..], salt);
            let _ = format::decode_front(&buf);
            (scan, ())
        });
        records += scan.records;
        allocations += count;
    }
    println!(
        "mutated buffers decoded: 100000, records accepted: {records}, allocations: {allocations}"
    );
    assert_eq!(allocations, 0, "the in-memory decoders never allocate");
}

#[test]
fn recovery_survives_mutated_segments_with_bounded_allocation() {
    let seed = common::seed("decode_mutations");
    let bases = base_images(seed);
    let mut rng = Rng(seed ^ 0xfeed);
    // The cursor reads in 256 KiB chunks, recovery copies in 64 KiB chunks; nothing on disk
    // can make a single allocation bigger than that plus a frame of record_size_max.
    let bound = (256 << 10) + format::frame_size(u64::from(RECORD_SIZE_MAX)) as usize + 4096;
    let mut largest_seen = 0;
    let mut opened = 0;
    for i in 0..2_000u32 {
        let sim = SimVfs::new(seed.wrapping_add(u64::from(i)));
        sim.create_dir_all(Path::new(DIR)).unwrap();
        let newest = i % 2 == 0;
        for (k, base) in bases.iter().enumerate() {
            let bytes = if (k + 1 == bases.len()) == newest {
                mutate(&mut rng, base)
            } else {
                base.clone()
            };
            let name = format!("{:020}.wal", k + 1);
            let f = sim.create_new(&Path::new(DIR).join(name)).unwrap();
            f.write_all_at(&bytes, 0).unwrap();
        }
        let vfs: Arc<dyn Vfs> = Arc::new(sim);
        let (result, largest, _) = tracked(|| {
            let r = Wal::open(Path::new(DIR), options(), vfs.clone());
            if let Ok((wal, _)) = &r {
                for item in wal.reader(cairn_wal::Lsn::FIRST).unwrap() {
                    if item.is_err() {
                        break;
                    }
                }
            }
            r.is_ok()
        });
        opened += u32::from(result);
        largest_seen = largest_seen.max(largest);
        assert!(
            largest <= bound,
            "allocation of {largest} bytes exceeds the bound {bound}"
        );
    }
    println!(
        "mutated logs recovered: 2000 (opened: {opened}), largest allocation: {largest_seen} B (bound {bound} B)"
    );
}
