//! How the simulated TD's file system answers: the kernel's tsm-mr and configfs-tsm behaviour
//! (docs/formats.md#tdx-guest-abi), with the kernel's errnos.

use std::io;

use mr_core::MrId;

use super::{ReportInstance, SimTd, State, INTRUDER_INBLOB};
use crate::fs::{check_relative, Errno, Fs};
use crate::rtmr::{file_name, tdx_registers, MEASUREMENTS_DIR, TDX_MR_SIZE};
use crate::tsm_report::{CONFIGFS_REPORT_DIR, INBLOB_SIZE};
use crate::Error;

/// What a path names in the simulated TD.
enum Node<'a> {
    /// A directory that always exists (`sys`, …, the measurements and report directories).
    FixedDir,
    /// A tsm-mr register file.
    Register(MrId),
    /// A report instance directory `<report dir>/<name>`.
    Instance(&'a str),
    /// An attribute `<report dir>/<name>/<attr>`.
    Attribute(&'a str, &'a str),
    /// Nothing that exists or could.
    Unknown,
}

fn is_dir_prefix(path: &str, dir: &str) -> bool {
    dir == path
        || dir
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn classify(path: &str) -> Node<'_> {
    if is_dir_prefix(path, MEASUREMENTS_DIR) || is_dir_prefix(path, CONFIGFS_REPORT_DIR) {
        return Node::FixedDir;
    }
    if let Some(name) = path
        .strip_prefix(MEASUREMENTS_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        return tdx_registers()
            .into_iter()
            .find(|id| file_name(id).is_ok_and(|f| f == name))
            .map_or(Node::Unknown, Node::Register);
    }
    if let Some(rest) = path
        .strip_prefix(CONFIGFS_REPORT_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        return match rest.split_once('/') {
            None => Node::Instance(rest),
            Some((name, attr)) if !attr.contains('/') => Node::Attribute(name, attr),
            Some(_) => Node::Unknown,
        };
    }
    Node::Unknown
}

fn errno(e: Errno) -> io::Error {
    e.to_io_error()
}

fn bounded(content: Vec<u8>, max_len: usize) -> io::Result<Vec<u8>> {
    if content.len() > max_len {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("more than {max_len} bytes"),
        ));
    }
    Ok(content)
}

fn static_value(state: &State, id: &MrId) -> Option<[u8; TDX_MR_SIZE]> {
    match id {
        MrId::Mrtd => Some(state.mrtd),
        MrId::MrConfigId => Some(state.mrconfigid),
        MrId::MrOwner => Some(state.mrowner),
        MrId::MrOwnerConfig => Some(state.mrownerconfig),
        _ => None,
    }
}

/// The configfs-tsm attributes a TDX instance shows (others are hidden: `ENOENT`).
const TDX_ATTRIBUTES: [&str; 4] = ["provider", "generation", "inblob", "outblob"];

impl SimTd {
    fn read_register(&self, id: &MrId) -> io::Result<Vec<u8>> {
        let state = self.lock();
        let value = match id {
            MrId::Rtmr(n) => state.rtmr.get(usize::from(*n)).copied(),
            other => static_value(&state, other),
        };
        value.map(Vec::from).ok_or_else(|| errno(Errno::Enoent))
    }

    fn extend_register(&self, id: &MrId, data: &[u8]) -> io::Result<()> {
        let MrId::Rtmr(n) = id else {
            return Err(errno(Errno::Eacces));
        };
        // tsm-mr: exactly the register's size at offset 0, else EINVAL.
        if data.len() != TDX_MR_SIZE {
            return Err(errno(Errno::Einval));
        }
        let mut state = self.lock();
        let rtmr = state
            .rtmr
            .get_mut(usize::from(*n))
            .ok_or_else(|| errno(Errno::Enxio))?;
        let new = mr_core::HashAlg::Sha384.hash_parts(&[rtmr.as_slice(), data]);
        rtmr.copy_from_slice(new.as_bytes());
        Ok(())
    }

    fn read_outblob(&self, name: &str) -> io::Result<Vec<u8>> {
        let (generation, measurements) = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let intrude = state.pending_intruder_writes > 0;
            let report = state
                .reports
                .get_mut(name)
                .ok_or_else(|| errno(Errno::Enoent))?;
            if intrude {
                report.inblob = INTRUDER_INBLOB.to_vec();
                report.generation = report.generation.wrapping_add(1);
                report.cached = None;
                state.pending_intruder_writes -= 1;
            }
            if let Some((generation, outblob)) = &report.cached {
                if *generation == report.generation {
                    return Ok(outblob.clone());
                }
            }
            let report_data: [u8; INBLOB_SIZE] = report
                .inblob
                .as_slice()
                .try_into()
                .map_err(|_| errno(Errno::Einval))?;
            (report.generation, state.measurements(report_data))
        };
        // Sign outside the lock: a quote provider may be slow.
        let provider = self
            .inner
            .quote_provider
            .as_ref()
            .ok_or_else(|| io::Error::other(Error::NoQuoteProvider))?;
        let outblob = provider.quote(&measurements).map_err(io::Error::other)?;
        if let Some(report) = self.lock().reports.get_mut(name) {
            if report.generation == generation {
                report.cached = Some((generation, outblob.clone()));
            }
        }
        Ok(outblob)
    }

    fn read_attribute(&self, name: &str, attr: &str) -> io::Result<Vec<u8>> {
        if attr == "outblob" {
            return self.read_outblob(name);
        }
        let state = self.lock();
        let report = state
            .reports
            .get(name)
            .ok_or_else(|| errno(Errno::Enoent))?;
        match attr {
            "provider" => Ok(format!("{}\n", self.inner.tsm_provider).into_bytes()),
            "generation" => Ok(format!("{}\n", report.generation).into_bytes()),
            "inblob" => Err(errno(Errno::Eacces)),
            _ => Err(errno(Errno::Enoent)),
        }
    }

    fn write_attribute(&self, name: &str, attr: &str, data: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        let report = state
            .reports
            .get_mut(name)
            .ok_or_else(|| errno(Errno::Enoent))?;
        match attr {
            "inblob" => {
                if data.len() > INBLOB_SIZE {
                    return Err(errno(Errno::Efbig));
                }
                report.inblob = data.to_vec();
                report.generation = report.generation.wrapping_add(1);
                report.cached = None;
                Ok(())
            }
            "provider" | "generation" | "outblob" => Err(errno(Errno::Eacces)),
            _ => Err(errno(Errno::Enoent)),
        }
    }
}

impl Fs for SimTd {
    fn read(&self, path: &str, max_len: usize) -> io::Result<Vec<u8>> {
        check_relative(path)?;
        let content = match classify(path) {
            Node::Register(id) => self.read_register(&id)?,
            Node::Attribute(name, attr) => self.read_attribute(name, attr)?,
            Node::FixedDir => return Err(errno(Errno::Eisdir)),
            Node::Instance(name) if self.lock().reports.contains_key(name) => {
                return Err(errno(Errno::Eisdir))
            }
            Node::Instance(_) | Node::Unknown => return Err(errno(Errno::Enoent)),
        };
        bounded(content, max_len)
    }

    fn write(&self, path: &str, data: &[u8]) -> io::Result<()> {
        check_relative(path)?;
        match classify(path) {
            Node::Register(id) => self.extend_register(&id, data),
            Node::Attribute(name, attr) => self.write_attribute(name, attr, data),
            Node::FixedDir => Err(errno(Errno::Eisdir)),
            Node::Instance(name) if self.lock().reports.contains_key(name) => {
                Err(errno(Errno::Eisdir))
            }
            Node::Instance(_) | Node::Unknown => Err(errno(Errno::Enoent)),
        }
    }

    fn mkdir(&self, path: &str) -> io::Result<()> {
        check_relative(path)?;
        match classify(path) {
            Node::Instance(name) => {
                let mut state = self.lock();
                if state.reports.contains_key(name) {
                    return Err(errno(Errno::Eexist));
                }
                state
                    .reports
                    .insert(name.to_owned(), ReportInstance::default());
                Ok(())
            }
            Node::FixedDir | Node::Register(_) => Err(errno(Errno::Eexist)),
            Node::Attribute(name, attr) => {
                let state = self.lock();
                if !state.reports.contains_key(name) {
                    Err(errno(Errno::Enoent))
                } else if TDX_ATTRIBUTES.contains(&attr) {
                    Err(errno(Errno::Eexist))
                } else {
                    // A configfs report instance has no sub-groups.
                    Err(errno(Errno::Eperm))
                }
            }
            Node::Unknown => Err(errno(Errno::Enoent)),
        }
    }

    fn rmdir(&self, path: &str) -> io::Result<()> {
        check_relative(path)?;
        match classify(path) {
            Node::Instance(name) => {
                let mut state = self.lock();
                state
                    .reports
                    .remove(name)
                    .map(|_| ())
                    .ok_or_else(|| errno(Errno::Enoent))
            }
            Node::FixedDir => Err(errno(Errno::Eperm)),
            Node::Register(_) => Err(errno(Errno::Enotdir)),
            Node::Attribute(name, attr) => {
                let state = self.lock();
                if state.reports.contains_key(name) && TDX_ATTRIBUTES.contains(&attr) {
                    Err(errno(Errno::Enotdir))
                } else {
                    Err(errno(Errno::Enoent))
                }
            }
            Node::Unknown => Err(errno(Errno::Enoent)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn errno_of<T: std::fmt::Debug>(r: io::Result<T>) -> Errno {
        Errno::of(&r.unwrap_err()).expect("an errno")
    }

    const RTMR0: &str = "sys/class/misc/tdx_guest/measurements/rtmr0:sha384";
    const REPORT: &str = "sys/kernel/config/tsm/report";

    #[test]
    fn answers_like_the_kernel_for_files_and_directories() {
        let td = SimTd::new();
        assert_eq!(td.read(RTMR0, 48).unwrap(), vec![0; 48]);
        assert_eq!(
            td.read(RTMR0, 47).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
        assert_eq!(errno_of(td.read("sys/class", 48)), Errno::Eisdir);
        assert_eq!(
            errno_of(td.read("sys/class/misc/tdx_guest/measurements/rtmr4:sha384", 48)),
            Errno::Enoent
        );
        assert_eq!(errno_of(td.read("etc/passwd", 48)), Errno::Enoent);
        assert_eq!(errno_of(td.mkdir("sys/class")), Errno::Eexist);
        assert_eq!(errno_of(td.rmdir(REPORT)), Errno::Eperm);
        assert_eq!(errno_of(td.rmdir(RTMR0)), Errno::Enotdir);
        assert_eq!(
            errno_of(td.mkdir("sys/kernel/config/tsm/report/a/b/c")),
            Errno::Enoent
        );
    }

    #[test]
    fn report_instances_show_only_tdx_attributes_with_kernel_modes() {
        let td = SimTd::new();
        let inst = format!("{REPORT}/x");
        td.mkdir(&inst).unwrap();
        assert_eq!(errno_of(td.mkdir(&inst)), Errno::Eexist);
        assert_eq!(
            td.read(&format!("{inst}/provider"), 64).unwrap(),
            b"tdx_guest\n"
        );
        assert_eq!(td.read(&format!("{inst}/generation"), 64).unwrap(), b"0\n");
        assert_eq!(
            errno_of(td.read(&format!("{inst}/inblob"), 64)),
            Errno::Eacces
        );
        assert_eq!(
            errno_of(td.read(&format!("{inst}/auxblob"), 64)),
            Errno::Enoent
        );
        assert_eq!(
            errno_of(td.write(&format!("{inst}/generation"), b"5")),
            Errno::Eacces
        );
        // Before any inblob: EINVAL, as TDX needs exactly 64 bytes.
        assert_eq!(
            errno_of(td.read(&format!("{inst}/outblob"), 1 << 15)),
            Errno::Einval
        );
        assert_eq!(
            errno_of(td.write(&format!("{inst}/inblob"), &[0; 65])),
            Errno::Efbig
        );
        td.write(&format!("{inst}/inblob"), &[0; 63]).unwrap();
        assert_eq!(td.read(&format!("{inst}/generation"), 64).unwrap(), b"1\n");
        assert_eq!(
            errno_of(td.read(&format!("{inst}/outblob"), 1 << 15)),
            Errno::Einval
        );
        assert_eq!(errno_of(td.mkdir(&format!("{inst}/sub"))), Errno::Eperm);
        td.rmdir(&inst).unwrap();
        assert_eq!(errno_of(td.rmdir(&inst)), Errno::Enoent);
        assert!(td.report_instances().is_empty());
    }
}
