//! A disk that fails under a broker: an ext4 file system on a loop device whose image
//! lives on a tmpfs that the test can make full (the disk fails), or that the test
//! fills itself (the disk is full).
//!
//! Writes to the ext4 succeed while they stay in the page cache; once the tmpfs under
//! the image is full, the loop device fails the writeback and `fsync` returns the error,
//! as a real disk does when it fails under a program. Needs root, loop devices and
//! tmpfs (`mount`, `losetup`, `mkfs.ext4`, `e2fsck`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Room for the image's file-system metadata and the broker's start-up files.
const BACKING_MIB: u64 = 1024;
const IMAGE_MIB: u64 = 512;

pub struct FailingDisk {
    _root: tempfile::TempDir,
    backing: PathBuf,
    image: PathBuf,
    device: String,
    mount: PathBuf,
}

/// Runs `program args`; its stdout, or what went wrong.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program).args(args).output().map_err(|e| format!("{program}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{program} {} exited with {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

impl FailingDisk {
    /// Makes the file system and mounts it at `<temp>/data`; the reason when this machine
    /// cannot (not root, no loop device, no tmpfs).
    pub fn new() -> Result<FailingDisk, String> {
        if run("id", &["-u"])? != "0" {
            return Err("not root".into());
        }
        let root = tempfile::tempdir().map_err(|e| e.to_string())?;
        let backing = root.path().join("backing");
        let mount = root.path().join("data");
        for dir in [&backing, &mount] {
            std::fs::create_dir(dir).map_err(|e| e.to_string())?;
        }
        run("mount", &["-t", "tmpfs", "-o", &format!("size={BACKING_MIB}m"), "tmpfs", path_str(&backing)])?;
        let mut disk = FailingDisk { _root: root, image: backing.join("disk.img"), backing, device: String::new(), mount };
        run("truncate", &["-s", &format!("{IMAGE_MIB}M"), path_str(&disk.image)])?;
        // Inode tables and journal are written now, not later by a kernel thread that
        // would race with the test for the tmpfs's room.
        run("mkfs.ext4", &["-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", path_str(&disk.image)])?;
        disk.device = run("losetup", &["--find", "--show", path_str(&disk.image)])?;
        run("mount", &[&disk.device, path_str(&disk.mount)])?;
        Ok(disk)
    }

    /// [`FailingDisk::new`] for a test that cannot run without one: panics with the
    /// reason when this machine cannot make it.
    pub fn required() -> FailingDisk {
        FailingDisk::new()
            .unwrap_or_else(|why| panic!("this test needs a loop-mounted file system (root, loop devices, tmpfs): {why}"))
    }

    /// Where the ext4 file system is mounted.
    pub fn path(&self) -> &Path {
        &self.mount
    }

    /// From now on, about `mib` MiB more can reach the disk; writeback beyond that fails.
    pub fn fail_after(&self, mib: u64) {
        let used = run("df", &["-B1K", "--output=used", path_str(&self.backing)]).expect("df of the tmpfs");
        let used: u64 = used.lines().last().and_then(|l| l.trim().parse().ok()).expect("df prints the used KiB");
        let size = format!("remount,size={}k", used + mib * 1024);
        run("mount", &["-o", &size, path_str(&self.backing)]).expect("shrink the tmpfs");
    }

    /// (bytes free to an unprivileged writer, bytes in all) of the file system, as
    /// `statvfs` reports them.
    pub fn available_and_total(&self) -> (u64, u64) {
        let fs = self.statvfs();
        (fs.f_bavail * fs.f_frsize, fs.f_blocks * fs.f_frsize)
    }

    fn statvfs(&self) -> rustix::fs::StatVfs {
        rustix::fs::statvfs(&self.mount).expect("statvfs of the file system")
    }

    /// Fills the file system with a file (allocated with `fallocate`, so no data reaches
    /// the image) until about `mib` MiB (a little more) are free, even for root: writes
    /// beyond that fail
    /// with ENOSPC, as on a full disk (not with EIO, as after [`FailingDisk::fail_after`]).
    pub fn fill_leaving(&self, mib: u64) {
        // Free even for root (f_bfree), not only for others (f_bavail).
        let fs = self.statvfs();
        // The extents of the file need blocks of their own: try a little less until it fits.
        let mut fill = (fs.f_bfree * fs.f_frsize).saturating_sub(mib << 20);
        let filler = self.filler();
        loop {
            match run("fallocate", &["-l", &fill.to_string(), path_str(&filler)]) {
                Ok(_) => return,
                Err(e) if e.contains("No space left") && fill > 64 << 20 => fill -= 1 << 20,
                Err(e) => panic!("fill the file system: {e}"),
            }
        }
    }

    /// Deletes the file [`FailingDisk::fill_leaving`] made, as an operator freeing space.
    pub fn free_space(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler file");
    }

    fn filler(&self) -> PathBuf {
        self.mount.join("filler")
    }

    /// Gives the disk its room back and checks the file system, as an operator would
    /// after replacing a failed disk's contents: unmounts it, runs `e2fsck -fy`, and
    /// mounts it again.
    pub fn repair(&self) {
        run("mount", &["-o", &format!("remount,size={BACKING_MIB}m"), path_str(&self.backing)]).expect("grow the tmpfs");
        // After an aborted journal the unmount may report errors; e2fsck settles them.
        let _ = run("umount", &[path_str(&self.mount)]);
        let fsck = Command::new("e2fsck").args(["-f", "-y", &self.device]).output().expect("run e2fsck");
        // 0: clean, 1: errors corrected (4 and up: left uncorrected).
        assert!(
            matches!(fsck.status.code(), Some(0 | 1)),
            "e2fsck could not repair the file system: {}{}",
            String::from_utf8_lossy(&fsck.stdout),
            String::from_utf8_lossy(&fsck.stderr)
        );
        run("mount", &[&self.device, path_str(&self.mount)]).expect("mount the repaired file system");
    }
}

impl Drop for FailingDisk {
    fn drop(&mut self) {
        let _ = run("umount", &["-l", path_str(&self.mount)]);
        if !self.device.is_empty() {
            let _ = run("losetup", &["-d", &self.device]);
        }
        let _ = run("umount", &["-l", path_str(&self.backing)]);
    }
}
