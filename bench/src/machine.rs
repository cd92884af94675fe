//! A description of the machine and of the file system under the benchmark directory, printed
//! with every run so that a figure is never separated from where it was measured.

use std::fmt;
use std::path::Path;

/// What the run was measured on.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// CPU model name from /proc/cpuinfo.
    pub cpu: String,
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// Total memory in GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// Mount point, file-system type and options of the benchmark directory.
    pub file_system: String,
    /// Block device behind that file system, with what /sys says about it.
    pub disk: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Machine {
    /// Describes this machine and the file system holding `dir`.
    pub fn describe(dir: &Path) -> Machine {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0 / 1024.0)
            .unwrap_or(0.0);
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mounts = read("/proc/mounts");
        let mount = mounts
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 4 && dir.starts_with(f[1])).then(|| (f[0], f[1], f[2], f[3]))
            })
            .max_by_key(|(_, point, _, _)| point.len());
        let (file_system, disk) = match mount {
            Some((device, point, kind, options)) => (
                format!("{kind} on {point} ({options})"),
                describe_disk(device),
            ),
            None => ("unknown".into(), "unknown".into()),
        };
        Machine {
            cpu,
            cores,
            memory_gib,
            kernel,
            file_system,
            disk,
        }
    }
}

fn describe_disk(device: &str) -> String {
    let name = device.trim_start_matches("/dev/");
    // A partition's queue lives under its parent device.
    let base: String = if Path::new(&format!("/sys/block/{name}")).exists() {
        name.to_string()
    } else {
        name.trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches('p')
            .to_string()
    };
    let sys = format!("/sys/block/{base}");
    let rotational = match read(&format!("{sys}/queue/rotational")).trim() {
        "0" => "non-rotational",
        "1" => "rotational",
        _ => "rotational: unknown",
    };
    let model = read(&format!("{sys}/device/model")).trim().to_string();
    let vendor = read(&format!("{sys}/device/vendor")).trim().to_string();
    let sectors: f64 = read(&format!("{sys}/size")).trim().parse().unwrap_or(0.0);
    let scheduler = read(&format!("{sys}/queue/scheduler")).trim().to_string();
    let write_cache = read(&format!("{sys}/queue/write_cache")).trim().to_string();
    let mut parts = vec![device.to_string()];
    let vendor = if vendor == "0x1af4" {
        "virtio (0x1af4)".to_string()
    } else {
        vendor
    };
    let label = format!("{vendor} {model}").trim().to_string();
    if !label.is_empty() {
        parts.push(label);
    } else if base.starts_with("vd") {
        parts.push("virtio block device".into());
    }
    if sectors > 0.0 {
        parts.push(format!("{:.0} GiB", sectors * 512.0 / (1u64 << 30) as f64));
    }
    parts.push(rotational.into());
    if !write_cache.is_empty() {
        parts.push(format!("write cache: {write_cache}"));
    }
    if !scheduler.is_empty() {
        parts.push(format!("scheduler: {scheduler}"));
    }
    parts.join(", ")
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "CPU:         {} ({} logical cores available)",
            self.cpu, self.cores
        )?;
        writeln!(f, "Memory:      {:.1} GiB", self.memory_gib)?;
        writeln!(f, "Kernel:      Linux {}", self.kernel)?;
        writeln!(f, "File system: {}", self.file_system)?;
        write!(f, "Disk:        {}", self.disk)
    }
}
