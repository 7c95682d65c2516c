//! Pre-training on a streamed ImageFolder end to end: memory stays under a cap while a
//! folder larger than the cap is read, and bad files mid-stream are errors naming them
//! (or, with --skip-bad, are replaced and reported).
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ssl-vision");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ssl-vision-streaming-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `per_class` smooth RGB JPEGs of `side` px in each of two class folders (small on disk,
/// `side * side * 3` bytes each once decoded).
fn jpeg_folder(root: &Path, per_class: u32, side: u32) {
    for c in 0..2u32 {
        let dir = root.join(format!("class{c}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(side, side, |x, y| {
                let a = ((x * (i + 1) + y * (c + 1)) % 256) as u8;
                image::Rgb([a, 255 - a, a / 2 + (i % 100) as u8])
            });
            img.save(dir.join(format!("{i:04}.jpg"))).unwrap();
        }
    }
}

/// The tiny model every run here trains: 32 px views, a 4-wide ConvNet, one thread.
const SMALL: &[&str] = &[
    "--device",
    "cpu",
    "--threads",
    "1",
    "--width",
    "4",
    "--quiet",
    "--warmup-steps",
    "1",
    "--set",
    "augment.size=32",
    "--set",
    "model.projector_hidden=16",
    "--set",
    "model.projector_dim=8",
];

fn pretrain(data: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["pretrain", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()]).args(SMALL).args(extra);
    c
}

/// Runs the command and returns its output with its peak resident memory (MiB), read
/// from the kernel's high-water mark while it runs.
#[cfg(target_os = "linux")]
fn peak_rss_mib(mut cmd: Command) -> (Output, f64) {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the binary runs");
    let status = format!("/proc/{}/status", child.id());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut kib = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(s) = std::fs::read_to_string(&status) {
                    if let Some(v) = s.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                        kib = kib.max(v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0));
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            kib
        })
    };
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    (out, watch.join().unwrap() as f64 / 1024.0)
}

fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[cfg(target_os = "linux")]
#[test]
fn a_folder_larger_than_the_memory_cap_streams_under_it() {
    let d = tmp("memory");
    let data = d.join("photos");
    let (per_class, side) = (120u32, 512u32);
    jpeg_folder(&data, per_class, side);
    let decoded_mib = (2 * per_class * side * side * 3) as f64 / (1024.0 * 1024.0); // 180 MiB
                                                                                    // The cap: what streaming a handful of these images costs, plus a quarter of the
                                                                                    // folder's decoded size.
    let (small, base) = peak_rss_mib(pretrain(&data, &d.join("small"), &["--stream", "--limit", "24", "--steps", "2", "--batch-size", "12"]));
    assert_ok(&small, "streaming 24 images");
    let cap = base + decoded_mib / 4.0;
    // One whole epoch of the 240 images: 20 batches of 12.
    let (all, streamed) = peak_rss_mib(pretrain(&data, &d.join("all"), &["--stream", "--steps", "20", "--batch-size", "12"]));
    assert_ok(&all, "streaming the folder");
    assert!(streamed <= cap, "streaming {decoded_mib:.0} MiB of images peaked at {streamed:.0} MiB, over the cap of {cap:.0} MiB (24 images: {base:.0} MiB)");
    // The same folder decoded into memory breaks the cap: it is larger than the cap.
    let (memory, in_memory) = peak_rss_mib(pretrain(&data, &d.join("memory"), &["--steps", "1", "--batch-size", "12"]));
    assert_ok(&memory, "the in-memory run");
    println!("peak RSS: 24 images streamed {base:.0} MiB, {decoded_mib:.0} MiB of images streamed {streamed:.0} MiB (cap {cap:.0}), decoded into memory {in_memory:.0} MiB");
    assert!(in_memory > cap + decoded_mib / 2.0, "decoding the folder into memory peaked at only {in_memory:.0} MiB (cap {cap:.0} MiB)");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bad_files_mid_stream_are_errors_naming_them_or_replaced_and_reported() {
    let d = tmp("bad");
    let data = d.join("photos");
    jpeg_folder(&data, 8, 40);
    let bad = data.join("class1/0003.jpg");
    let bytes = std::fs::read(&bad).unwrap();
    // Cut half-way through the image data, after the headers (the last start-of-scan marker).
    let scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
    std::fs::write(&bad, &bytes[..(scan + bytes.len()) / 2]).unwrap();
    let steps = ["--steps", "4", "--batch-size", "8"]; // two epochs: every file is read
    let out = pretrain(&data, &d.join("strict"), &[&["--stream"], &steps[..]].concat()).output().unwrap();
    let se = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && se.contains("error:") && se.contains("0003.jpg") && se.contains("truncated"), "{se}");
    assert!(!se.contains("panicked"), "{se}");

    let out = pretrain(&data, &d.join("lenient"), &[&["--stream", "--skip-bad"], &steps[..]].concat()).output().unwrap();
    assert_ok(&out, "streaming with --skip-bad");
    let se = String::from_utf8_lossy(&out.stderr);
    assert!(se.contains("1 images failed to decode while streaming") && se.contains("0003.jpg"), "{se}");
    // Decoded into memory, --skip-bad leaves the file out and says so.
    let out = pretrain(&data, &d.join("memory"), &[&["--skip-bad"], &steps[..]].concat()).output().unwrap();
    assert_ok(&out, "reading into memory with --skip-bad");
    assert!(String::from_utf8_lossy(&out.stderr).contains("left out 1 of 16 images"), "{}", String::from_utf8_lossy(&out.stderr));

    // An empty file fails when the folder is opened, before the run folder is touched.
    std::fs::write(data.join("class0/empty.jpg"), b"").unwrap();
    let out = pretrain(&data, &d.join("empty"), &[&["--stream"], &steps[..]].concat()).output().unwrap();
    let se = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && se.contains("empty.jpg"), "{se}");
    assert!(!d.join("empty").exists(), "a refused run must not create its folder");
    std::fs::remove_file(data.join("class0/empty.jpg")).unwrap();
    std::fs::remove_file(&bad).unwrap();

    // Mixed sizes stream once the view size is set; without it the error says so.
    image::RgbImage::new(64, 48).save(data.join("class0/wide.jpg")).unwrap();
    let out = pretrain(&data, &d.join("mixed"), &[&["--stream", "--set", "augment.size=0"], &steps[..]].concat()).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("different sizes; set augment.size"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ok(&pretrain(&data, &d.join("mixed-ok"), &[&["--stream"], &steps[..]].concat()).output().unwrap(), "streaming mixed sizes");
    // IDX files are not streamed.
    let idx = d.join("x-images-idx3-ubyte");
    std::fs::write(&idx, [0u8, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4]).unwrap();
    let out = pretrain(&idx, &d.join("idx"), &["--stream"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not streamed"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&d).ok();
}
