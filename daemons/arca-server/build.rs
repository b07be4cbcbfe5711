//! Embeds the web UI (`ui/`): writes `$OUT_DIR/ui_assets.rs`, the table of every file there
//! (name, content type, bytes by `include_bytes!`), so a new page module is served by adding
//! its file — no list to keep by hand.

use std::fmt::Write as _;
use std::path::Path;

fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => return None,
    })
}

fn main() -> std::io::Result<()> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?;
    let out_dir = std::env::var("OUT_DIR").map_err(std::io::Error::other)?;
    let ui = Path::new(&manifest).join("ui");
    println!("cargo:rerun-if-changed={}", ui.display());
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&ui)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        println!("cargo:rerun-if-changed={}", entry.path().display());
        if entry.file_type()?.is_file() && content_type(&name).is_some() {
            names.push(name);
        }
    }
    names.sort();
    let mut table = String::from("&[\n");
    for name in &names {
        let path = ui.join(name);
        let ty = content_type(name).unwrap_or("application/octet-stream");
        writeln!(
            table,
            "    Asset {{ name: {name:?}, content_type: {ty:?}, bytes: include_bytes!({path:?}) }},",
            path = path.display().to_string()
        )
        .map_err(std::io::Error::other)?;
    }
    table.push(']');
    std::fs::write(Path::new(&out_dir).join("ui_assets.rs"), table)
}
