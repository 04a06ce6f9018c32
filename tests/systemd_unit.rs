//! The shipped unit file is valid for systemd and keeps its hardening.

use std::process::Command;

#[test]
fn unit_file_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/ovn-vpcd.service")).unwrap();
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.lines().any(|l| l == line), "unit lacks {line}");
    }
    // Verify with systemd's own checker, pointing ExecStart at the binary just built.
    let dir = std::env::temp_dir().join(format!("unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ovn-vpcd.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/ovn-vpcd ", &format!("{} ", env!("CARGO_BIN_EXE_ovn-vpcd"))))
        .unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().expect("systemd-analyze");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
