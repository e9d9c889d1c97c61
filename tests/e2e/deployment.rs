//! The deployment files, checked without a Docker engine: the compose file
//! against the current Compose Specification (the `compose_spec` crate's
//! strict model, which knows `env_file: [{path, required}]` that Debian's
//! docker-compose 1.29 rejects), and the nginx config with `nginx -t`.

use std::process::Command;

fn repo_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn the_compose_file_follows_the_compose_specification() {
    let yaml = repo_file("docker-compose.yml");
    // Compose applies YAML merge keys (`<<: *bazaar-env`); so must we.
    let compose = compose_spec::Compose::options()
        .apply_merge(true)
        .from_yaml_str(&yaml)
        .unwrap_or_else(|e| panic!("docker-compose.yml: {e}"));
    compose
        .validate_all()
        .unwrap_or_else(|e| panic!("docker-compose.yml: {e}"));
    let services: Vec<String> = compose.services.keys().map(ToString::to_string).collect();
    for role in ["postgres", "redis", "api", "worker", "scheduler", "nginx"] {
        assert!(
            services.iter().any(|s| s == role),
            "no {role} service: {services:?}"
        );
    }
}

/// `nginx -t` with the machine's nginx (Debian's, 1.22). Two things only
/// Docker provides are stood in for, and nothing else is changed: the
/// `nginx` user of the official image (Debian's is `www-data`), and the
/// compose service name `api`, which nginx resolves while testing (here
/// 127.0.0.1). `server ... resolve` needs nginx 1.27.3 (the image has 1.27):
/// an older local nginx is tested without that one parameter.
#[test]
fn nginx_accepts_the_config() {
    let version = Command::new("nginx")
        .arg("-v")
        .output()
        .expect("nginx is installed (ops/scripts/test.sh installs Debian's nginx-light)");
    let version = String::from_utf8_lossy(&version.stderr).to_string();
    let numbers: Vec<u32> = version
        .trim()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .split('.')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let resolve_known = numbers.as_slice() >= [1, 27, 3].as_slice();

    let mut config = repo_file("ops/nginx.conf")
        .replacen("user  nginx;", "user  www-data;", 1)
        .replace("server     api:8080", "server     127.0.0.1:8080");
    assert!(
        config.contains("127.0.0.1:8080"),
        "the upstream moved: update this test"
    );
    if !resolve_known {
        config = config.replace(" resolve;", ";");
    }
    let dir = std::env::temp_dir().join(format!("bazaar-nginx-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let file = dir.join("nginx.conf");
    std::fs::write(&file, config).unwrap();
    let out = Command::new("nginx")
        .arg("-t")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&file)
        .output()
        .expect("run nginx -t");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "nginx -t ({version}): {said}");
    assert!(said.contains("test is successful"), "{said}");
    let _ = std::fs::remove_dir_all(dir);
}
