//! Any text as a TOML recipe (docs/recipe.md): a recipe or an error naming the line,
//! never a panic. COPY reads from a scratch folder holding `binaries/keylight.reg`.
#![no_main]
#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pause_verify::recipe::toml_recipe;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = common::scratch().join("recipe.toml");
    let _ = toml_recipe::load_text(&path, text, &BTreeMap::new());
});
