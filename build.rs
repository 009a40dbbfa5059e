//! Embeds GraphiQL's pinned browser assets when `npm ci --prefix web` has
//! installed them, so the GraphiQL page asks no other host for anything.
//! Without them the page loads the same pinned versions from a CDN (and the
//! server says so in its log). Third-party bundles are never committed.

use std::path::{Path, PathBuf};

/// (name served under /graphql/assets/, file under web/node_modules, type).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "react.production.min.js",
        "react/umd/react.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "react-dom.production.min.js",
        "react-dom/umd/react-dom.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "graphiql.min.js",
        "graphiql/graphiql.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "graphiql.min.css",
        "graphiql/graphiql.min.css",
        "text/css; charset=utf-8",
    ),
    (
        "graphql-ws.min.js",
        "graphql-ws/umd/graphql-ws.min.js",
        "text/javascript; charset=utf-8",
    ),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest.join("web");
    // A directory: cargo rescans it, so `npm ci` later triggers a rebuild.
    println!("cargo::rerun-if-changed=web");

    let package: serde_json::Value =
        serde_json::from_slice(&std::fs::read(web.join("package.json")).expect("web/package.json"))
            .expect("web/package.json is JSON");
    let version = |name: &str| {
        package["dependencies"][name]
            .as_str()
            .unwrap_or_else(|| panic!("web/package.json pins {name}"))
            .to_owned()
    };

    let modules = web.join("node_modules");
    let present = ASSETS
        .iter()
        .all(|(_, file, _)| modules.join(file).is_file());
    let mut out = String::new();
    out.push_str(&format!("pub const EMBEDDED: bool = {present};\n"));
    for (name, pkg) in [
        ("GRAPHIQL", "graphiql"),
        ("REACT", "react"),
        ("REACT_DOM", "react-dom"),
        ("GRAPHQL_WS", "graphql-ws"),
    ] {
        out.push_str(&format!(
            "pub const {name}_VERSION: &str = {:?};\n",
            version(pkg)
        ));
    }
    out.push_str("pub static ASSETS: &[Asset] = &[\n");
    if present {
        for (name, file, content_type) in ASSETS {
            let path = modules.join(file);
            out.push_str(&format!(
                "    Asset {{ name: {name:?}, content_type: {content_type:?}, bytes: include_bytes!({:?}) }},\n",
                path.display().to_string()
            ));
        }
    }
    out.push_str("];\n");
    write_if_changed(
        &PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("graphiql_assets.rs"),
        &out,
    );
}

/// Rewriting an unchanged file would recompile the crate for nothing.
fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return;
    }
    std::fs::write(path, text).expect("write generated assets list");
}
