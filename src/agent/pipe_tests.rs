use super::*;

fn pipe(dir: &str, channel: &str) -> PlannedPipe {
    PlannedPipe {
        id: "x".into(),
        token: "t".into(),
        fifo_dir: dir.into(),
        channel: channel.into(),
        recordio: false,
    }
}

/// A tar as sagebox serves a pipe's source: the files in name order, a directory among them.
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_size(0);
    dir.set_mode(0o755);
    b.append_data(&mut dir, "sub", &[][..]).unwrap();
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

const FILES: [(&str, &[u8]); 3] = [
    ("00000000", b"abc"),
    ("00000001", b""),
    ("00000002", b"hello"),
];

#[test]
fn each_epoch_has_its_own_fifo_named_as_sagemaker_names_them() {
    let p = pipe("/opt/ml/input/data", "train");
    assert_eq!(
        fifo_path(&p, 0),
        PathBuf::from("/opt/ml/input/data/train_0")
    );
    assert_eq!(
        fifo_path(&p, 12),
        PathBuf::from("/opt/ml/input/data/train_12")
    );
    let p = pipe("/opt/ml/input/data/", "validation");
    assert_eq!(
        fifo_path(&p, 1),
        PathBuf::from("/opt/ml/input/data/validation_1")
    );
}

#[test]
fn recordio_frames_are_magic_length_payload_and_padding() {
    assert_eq!(recordio_header(5), [0x0a, 0x23, 0xd7, 0xce, 5, 0, 0, 0]);
    assert_eq!(
        recordio_header(0x0102_0304),
        [0x0a, 0x23, 0xd7, 0xce, 4, 3, 2, 1]
    );
    let pads: Vec<usize> = (0..9).map(recordio_padding).collect();
    assert_eq!(pads, [0, 3, 2, 1, 0, 3, 2, 1, 0]);
}

#[test]
fn an_epoch_is_the_files_in_archive_order() {
    let mut out = Vec::new();
    let fed = write_epoch(&tar_of(&FILES)[..], &mut out, false).unwrap();
    assert_eq!(out, b"abchello");
    assert_eq!(
        fed,
        Fed::Whole(Stats {
            files: 3,
            bytes: 8,
            skipped: 0
        })
    );
}

#[test]
fn a_recordio_epoch_wraps_each_file_as_one_record() {
    let mut out = Vec::new();
    write_epoch(&tar_of(&FILES)[..], &mut out, true).unwrap();
    let mut want = Vec::new();
    want.extend_from_slice(&recordio_header(3));
    want.extend_from_slice(b"abc\0");
    want.extend_from_slice(&recordio_header(0));
    want.extend_from_slice(&recordio_header(5));
    want.extend_from_slice(b"hello\0\0\0");
    assert_eq!(out, want);
    assert_eq!(out.len() % 4, 0);
}

#[test]
fn an_archive_that_breaks_off_is_an_error_not_a_short_epoch() {
    let tar = tar_of(&FILES);
    // the directory's header, the first file's header and one byte of its three
    let cut = &tar[..512 + 512 + 1];
    let err = write_epoch(cut, Vec::new(), false).unwrap_err();
    assert!(err.to_string().contains("broke off"), "{err}");
}

/// Takes `room` bytes, then fails as a FIFO whose reader went away (or as a full disk).
struct Closing {
    room: usize,
    kind: io::ErrorKind,
}

impl Write for Closing {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::from(self.kind));
        }
        let n = data.len().min(self.room);
        self.room -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_reader_that_closes_early_ends_the_epoch_and_other_write_errors_fail_it() {
    let tar = tar_of(&FILES);
    let out = Closing {
        room: 4,
        kind: io::ErrorKind::BrokenPipe,
    };
    let fed = write_epoch(&tar[..], out, false).unwrap();
    assert!(matches!(fed, Fed::Closed(s) if s.files == 2), "{fed:?}");
    let out = Closing {
        room: 4,
        kind: io::ErrorKind::StorageFull,
    };
    assert!(write_epoch(&tar[..], out, false).is_err());
}

#[test]
fn a_fifo_is_fed_once_its_reader_opens_it_and_a_stop_ends_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("train_0");
    make_fifo(&fifo).unwrap();
    make_fifo(&fifo).unwrap(); // one already there will do
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(make_fifo(&file).is_err());

    let stop = AtomicBool::new(true);
    assert!(open_when_read(&fifo, &stop).unwrap().is_none());

    let path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read(path).unwrap());
    let stop = AtomicBool::new(false);
    let out = open_when_read(&fifo, &stop).unwrap().unwrap();
    let fed = write_epoch(&tar_of(&FILES)[..], out, false).unwrap();
    assert!(matches!(fed, Fed::Whole(_)));
    assert_eq!(reader.join().unwrap(), b"abchello");

    // A reader that leaves at once: the write meets EPIPE, and the epoch is over.
    let path = fifo.clone();
    let reader = std::thread::spawn(move || drop(File::open(path).unwrap()));
    let out = open_when_read(&fifo, &stop).unwrap().unwrap();
    reader.join().unwrap();
    let big = vec![7u8; 1 << 20];
    let fed = write_epoch(&tar_of(&[("00000000", &big)])[..], out, false).unwrap();
    assert!(matches!(fed, Fed::Closed(_)), "{fed:?}");
}
