//! Reading files named by callers (PEM files, the cache file) without trusting what they are:
//! only regular files are read (a FIFO would block the caller for ever, a device like
//! `/dev/zero` would be read until memory runs out), and only up to a size limit.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for reading without blocking (a FIFO opens at once) and checks that it is a
/// regular file of at most `limit` bytes. `follow`: whether a symlink is followed.
pub fn open_regular(
    path: &Path,
    limit: u64,
    follow: bool,
) -> io::Result<(File, std::fs::Metadata)> {
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.len() > limit {
        return Err(io::Error::other(format!(
            "{} bytes, more than the {limit} allowed",
            meta.len()
        )));
    }
    Ok((f, meta))
}

/// Reads the regular file `path` of at most `limit` bytes (see [`open_regular`]).
pub fn read_regular(path: &Path, limit: u64, follow: bool) -> io::Result<Vec<u8>> {
    let (f, _) = open_regular(path, limit, follow)?;
    read_at_most(f, limit)
}

/// Reads all of `f`, failing if it holds more than `limit` bytes (it may have grown since it was
/// checked).
pub fn read_at_most(f: File, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    f.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(io::Error::other(format!(
            "more than the {limit} bytes allowed"
        )));
    }
    Ok(buf)
}

/// Why a file that others could have written is not to be trusted, if it is not: as `ssh`
/// checks its files, it must belong to this user (or root) and be writable by nobody else, and
/// so must its directory (unless the directory is sticky, like /tmp).
pub fn untrusted(path: &Path, meta: &std::fs::Metadata) -> Option<String> {
    let me = unsafe { libc::geteuid() };
    let owned = |m: &std::fs::Metadata| m.uid() == me || m.uid() == 0;
    if !owned(meta) {
        return Some(format!(
            "it belongs to uid {}, not to this user",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Some(format!(
            "others may write it (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(dir) {
        Ok(d) if !owned(&d) && d.mode() & 0o1000 == 0 => Some(format!(
            "its directory belongs to uid {}, not to this user",
            d.uid()
        )),
        Ok(d) if d.mode() & 0o022 != 0 && d.mode() & 0o1000 == 0 => Some(format!(
            "others may write its directory (mode {:o})",
            d.mode() & 0o777
        )),
        Ok(_) => None,
        Err(e) => Some(format!("its directory cannot be checked: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "hello").unwrap();
        assert_eq!(read_regular(&f, 5, true).unwrap(), b"hello");
        assert!(read_regular(&f, 4, true).is_err());
        assert!(read_regular(Path::new("/dev/zero"), 1 << 20, true).is_err());
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_regular(&fifo, 1 << 20, true).unwrap_err();
        assert!(e.to_string().contains("regular"), "{e}");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(read_regular(&link, 5, false).is_err());
        assert!(read_regular(&link, 5, true).is_ok());
    }

    #[test]
    fn files_others_may_write_are_untrusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let check = || untrusted(&f, &std::fs::metadata(&f).unwrap());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(check(), None);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(check().unwrap().contains("others may write it"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check().unwrap().contains("directory"));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(check(), None, "a sticky directory is fine, as /tmp");
    }
}
