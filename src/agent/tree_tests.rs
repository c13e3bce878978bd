use super::*;

fn names(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType)> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            (name, e.header().entry_type())
        })
        .collect()
}

/// One entry whose name (and link target) go into the header as given, unchecked, as a
/// hostile sender would write them.
type RawEntry<'a> = (&'a str, tar::EntryType, &'a str, &'a [u8]);

fn raw_tar(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append(&h, *data).unwrap();
    }
    out.into_inner().unwrap()
}

#[test]
fn a_tree_travels_with_its_symlinks_and_without_fifos() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/data.csv"), b"1,2,3\n").unwrap();
    std::fs::write(root.join("top.txt"), b"hello").unwrap();
    std::os::unix::fs::symlink("a/b/data.csv", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("outside")).unwrap();
    let fifo = std::ffi::CString::new(root.join("pipe").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

    let mut bytes = Vec::new();
    let stats = write_tar(root, Kind::Dir, &mut bytes).unwrap();
    assert_eq!(
        stats,
        Stats {
            files: 2,
            bytes: 11,
            skipped: 1
        }
    );
    use tar::EntryType::*;
    assert_eq!(
        names(&bytes),
        [
            ("a".to_string(), Directory),
            ("a/b".to_string(), Directory),
            ("a/b/data.csv".to_string(), Regular),
            ("link".to_string(), Symlink),
            ("outside".to_string(), Symlink),
            ("top.txt".to_string(), Regular),
        ]
    );

    // The tree comes back as it was, except the symlink that points out of it.
    let dst = tempfile::tempdir().unwrap();
    let out = dst.path().join("new/dir");
    let refused = extract(bytes.as_slice(), &out, Kind::Dir).unwrap_err();
    assert!(matches!(refused, ExtractError::Refused(m) if m.contains("outside")));
    std::fs::remove_file(root.join("outside")).unwrap();
    let mut bytes = Vec::new();
    write_tar(root, Kind::Dir, &mut bytes).unwrap();
    let stats = extract(bytes.as_slice(), &out, Kind::Dir).unwrap();
    assert_eq!((stats.files, stats.bytes), (2, 11));
    assert_eq!(std::fs::read(out.join("a/b/data.csv")).unwrap(), b"1,2,3\n");
    assert_eq!(
        std::fs::read_link(out.join("link")).unwrap(),
        Path::new("a/b/data.csv")
    );
    // Extracting again replaces files in place.
    std::fs::write(out.join("top.txt"), b"old and longer").unwrap();
    extract(bytes.as_slice(), &out, Kind::Dir).unwrap();
    assert_eq!(std::fs::read(out.join("top.txt")).unwrap(), b"hello");
}

#[test]
fn a_missing_directory_is_an_empty_one_and_a_file_is_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    let stats = write_tar(&dir.path().join("absent"), Kind::Dir, &mut bytes).unwrap();
    assert_eq!(stats, Stats::default());
    assert!(names(&bytes).is_empty());

    let file = dir.path().join("config.json");
    std::fs::write(&file, b"{}").unwrap();
    assert_eq!(Kind::of(&file).unwrap(), Some(Kind::File));
    assert_eq!(Kind::of(dir.path()).unwrap(), Some(Kind::Dir));
    let mut bytes = Vec::new();
    write_tar(&file, Kind::File, &mut bytes).unwrap();
    let dest = dir.path().join("deep/er/copy.json");
    let stats = extract(bytes.as_slice(), &dest, Kind::File).unwrap();
    assert_eq!((stats.files, stats.bytes), (1, 2));
    assert_eq!(std::fs::read(&dest).unwrap(), b"{}");
    let err = extract(raw_tar(&[]).as_slice(), &dest, Kind::File).unwrap_err();
    assert!(matches!(err, ExtractError::Refused(_)));
}

#[test]
fn hostile_names_are_refused_and_nothing_lands_outside() {
    use tar::EntryType::*;
    let cases: &[(&str, &[RawEntry])] = &[
        ("..", &[("../evil", Regular, "", b"x")]),
        ("..", &[("a/../../evil", Regular, "", b"x")]),
        ("absolute", &[("/tmp/evil", Regular, "", b"x")]),
        ("points out", &[("l", Symlink, "../../etc", b"")]),
        ("points out", &[("a/l", Symlink, "../..", b"")]),
        ("points out", &[("l", Symlink, "/etc", b"")]),
        // each link alone stays inside; followed one through the other, they would not
        (
            "points out",
            &[
                ("a/up", Symlink, "..", b""),
                ("a/out", Symlink, "up/..", b""),
            ],
        ),
        ("hard links", &[("h", Link, "/etc/passwd", b"")]),
    ];
    for (why, entries) in cases {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        let err = extract(raw_tar(entries).as_slice(), &dest, Kind::Dir).unwrap_err();
        match err {
            ExtractError::Refused(m) => assert!(m.contains(why), "{m} for {entries:?}"),
            e => panic!("{e} for {entries:?}"),
        }
        assert!(!dir.path().join("evil").exists());
    }

    // A symlink already in the destination is never written through.
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let dest = dir.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("l")).unwrap();
    let tar = raw_tar(&[("l/x", Regular, "", b"x")]);
    let err = extract(tar.as_slice(), &dest, Kind::Dir).unwrap_err();
    assert!(matches!(err, ExtractError::Refused(m) if m.contains("symlink")));
    assert!(!outside.join("x").exists());
    // An entry named like the symlink replaces the link, not its target.
    let tar = raw_tar(&[("l", Regular, "", b"mine")]);
    extract(tar.as_slice(), &dest, Kind::Dir).unwrap();
    assert_eq!(std::fs::read(dest.join("l")).unwrap(), b"mine");
    assert!(outside.is_dir());
    // A symlink inside the tree is fine.
    let tar = raw_tar(&[
        ("d/l", Symlink, "../l", b""),
        ("d/e/m", Symlink, "../../d/./l", b""),
    ]);
    extract(tar.as_slice(), &dest, Kind::Dir).unwrap();
    assert_eq!(std::fs::read(dest.join("d/l")).unwrap(), b"mine");
}
