//! Where the catalogue and the IP ranges come from: the copies embedded in the binary, overlaid
//! by a data directory (`--data-dir`, `$TOLLGATE_DATA_DIR`, else `$XDG_DATA_HOME/tollgate` or
//! `~/.local/share/tollgate`) where `tollgate ranges update` writes fresh range files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tollgate_agents::ranges::{
    embedded_range_file, parse_sources, RangeSourceSpec, EMBEDDED_SOURCES,
};
use tollgate_agents::{Catalogue, Classifier, RangeTable, UaMatcher};

/// The data directory in effect.
pub fn data_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("TOLLGATE_DATA_DIR") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("XDG_DATA_HOME") {
        return Some(PathBuf::from(p).join("tollgate"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/tollgate"))
}

/// The range sources: `<data dir>/ipranges/sources.toml` if present, else the embedded list.
pub fn range_sources(dir: Option<&Path>) -> anyhow::Result<Vec<RangeSourceSpec>> {
    if let Some(d) = dir {
        let p = d.join("ipranges/sources.toml");
        if p.exists() {
            let text =
                std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            return Ok(parse_sources(&p.display().to_string(), &text)?);
        }
    }
    Ok(parse_sources(
        "data/ipranges/sources.toml",
        EMBEDDED_SOURCES,
    )?)
}

/// Loads the range table: each file from `<data dir>/ipranges/` when it exists there (fetched by
/// `ranges update`), else the embedded copy.
pub fn load_ranges(dir: Option<&Path>) -> anyhow::Result<RangeTable> {
    let specs = range_sources(dir)?;
    let ranges_dir = dir.map(|d| d.join("ipranges"));
    let table = RangeTable::load(specs, |file| {
        if let Some(d) = &ranges_dir {
            let p = d.join(file);
            if p.exists() {
                return std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()));
            }
        }
        embedded_range_file(file)
            .map(str::to_string)
            .ok_or_else(|| {
                format!(
                    "not found in {} nor embedded",
                    ranges_dir.as_deref().unwrap_or(Path::new("-")).display()
                )
            })
    })?;
    Ok(table)
}

/// Catalogue (embedded, or `file`) + matcher + ranges.
pub fn classifier(catalogue: Option<&Path>, dir: Option<&Path>) -> anyhow::Result<Classifier> {
    let cat = match catalogue {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Catalogue::parse(&p.display().to_string(), &text)?
        }
        None => Catalogue::embedded()?,
    };
    let matcher = UaMatcher::new(&cat)?;
    Ok(Classifier::new(cat, matcher, load_ranges(dir)?)?)
}
