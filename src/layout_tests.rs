//! The "Layout" section of the crate docs, checked against the source: the
//! layer table in `lib.rs` is the spec, read from there (no second copy here).
//!
//! For every file under `src/` (not `bin/`, a crate of its own, nor `lib.rs`,
//! the root) this reads its imports: `use` statements of `crate::` paths
//! (grouped and multi-line ones too), unindented `use super::…` resolved
//! against the file's module, and `crate::…` paths written inline. Each is
//! resolved to a row (root re-exports such as `crate::Ring` to the module they
//! come from; the longest row name that prefixes the path) and must be allowed
//! by the importing file's row: its own row, a layer or module its "may use"
//! names (a module includes its submodules), "every layer below", or a line of
//! the exceptions table. Test modules count: they are part of their file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: [&str; 8] = ["Face", "Dispatch", "Execute", "State", "Discovery", "Connect", "Pure", "Base"];

/// One row of the layer table.
struct Row {
    layer: usize,
    module: String,
    subs: Vec<String>,
    may: Vec<May>,
    may_text: String,
}

/// One item of a row's "may use".
enum May {
    Below,
    Layer(usize),
    Module(String),
}

/// One import found in a file.
struct Import {
    line: usize,
    text: String,
    path: Vec<String>,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn read(rel: &str) -> String {
    let path = src().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The tables of the "Layout" section: rows of cells, separator rows left out.
fn layout_tables(lib: &str) -> Vec<Vec<Vec<String>>> {
    let section = lib.split_once("//! ### Layout").expect("lib.rs has a \"### Layout\" section").1;
    let lines: Vec<&str> = section.lines().skip(1).take_while(|l| l.starts_with("//!")).collect();
    let cells =
        |row: &str| row.trim_end().trim_end_matches('|').split('|').map(|c| c.trim().to_owned()).collect();
    let tables = lines.split(|l| !l.starts_with("//! |")).filter(|t| !t.is_empty());
    let rows = tables.map(|t| t.iter().map(|l| &l["//! |".len()..]).filter(|r| !r.starts_with("---")));
    rows.map(|t| t.map(cells).collect()).collect()
}

/// The names in backticks, brackets of intra-doc links left out.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// `text` without its parenthesised notes.
fn without_notes(text: &str) -> String {
    let mut depth = 0;
    text.chars()
        .filter(|&c| {
            depth += (c == '(') as i32;
            let keep = depth == 0;
            depth -= (c == ')') as i32;
            keep
        })
        .collect()
}

fn may_use(cell: &str) -> Vec<May> {
    let items = without_notes(cell);
    let items = items.split([',', ';']).map(str::trim).filter(|i| !i.is_empty() && *i != "—");
    items
        .map(|item| match (item, LAYERS.iter().position(|l| *l == item), &ticked(item)[..]) {
            ("every layer below", ..) => May::Below,
            (_, Some(i), _) => May::Layer(i + 1),
            (_, None, [name]) => May::Module(name.clone()),
            _ => panic!("Layout table: can't read {item:?} in \"may use\" {cell:?}"),
        })
        .collect()
}

fn rows(table: &[Vec<String>]) -> Vec<Row> {
    assert_eq!(table[0][..2], ["layer".to_owned(), "file".to_owned()], "the layer table comes first");
    let mut layer = 0;
    let mut out = Vec::new();
    for cells in &table[1..] {
        let [layer_cell, file, _owns, may] = &cells[..] else {
            panic!("Layout row without 4 cells: {cells:?}")
        };
        if let Some(name) = layer_cell.split_whitespace().nth(1) {
            layer = 1 + LAYERS.iter().position(|l| *l == name).unwrap_or_else(|| panic!("no layer {name:?}"));
        }
        let module = ticked(file).into_iter().next().unwrap_or_else(|| panic!("no module in {file:?}"));
        let subs = match file.split_once("(+") {
            Some((_, rest)) => ticked(rest.split([')', ':', ';']).next().unwrap_or_default()),
            None => Vec::new(),
        };
        out.push(Row { layer, module, subs, may: may_use(may), may_text: may.clone() });
    }
    out
}

/// Every `.rs` file under `src/` but `bin/` and `lib.rs`, with its module path.
fn files() -> Vec<(String, Vec<String>)> {
    let (src, mut dirs, mut out) = (src(), vec![src()], Vec::new());
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            let rel =
                path.strip_prefix(&src).expect("under src").to_str().expect("UTF-8 file names").to_owned();
            if path.is_dir() {
                dirs.extend((rel != "bin").then_some(path));
            } else if let Some(stem) = rel.strip_suffix(".rs").filter(|s| *s != "lib") {
                let module = stem.trim_end_matches("/mod").split('/').map(str::to_owned).collect();
                out.push((rel, module));
            }
        }
    }
    out.sort();
    out
}

/// The paths a `use` tree names: `a::{b, c::{d, e as f}, self}` gives
/// `a::b`, `a::c::d`, `a::c::e`, `a`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let (mut out, mut heads, mut item) = (Vec::new(), vec![Vec::new()], String::new());
    for c in tree.chars().chain([',']) {
        if !"{},".contains(c) {
            item.push(c);
            continue;
        }
        let taken = std::mem::take(&mut item);
        let name = taken.split_whitespace().next().unwrap_or_default(); // `e as f`: `e`
        let segments = name.split("::").filter(|s| !s.is_empty() && *s != "self").map(str::to_owned);
        let path: Vec<String> =
            heads.last().expect("balanced braces").iter().cloned().chain(segments).collect();
        if c == '{' {
            heads.push(path);
        } else if !name.is_empty() {
            out.push(path);
        }
        if c == '}' {
            heads.pop();
        }
    }
    out
}

/// The `crate::` and `super::` imports of one file whose module path is `module`.
fn imports(text: &str, module: &[String]) -> Vec<Import> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((at, line)) = lines.next() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let indented = code.len() != line.len();
        let statement = code.strip_prefix("pub(crate) ").or(code.strip_prefix("pub ")).unwrap_or(code);
        if let Some(rest) = statement.strip_prefix("use ") {
            let mut whole = rest.to_owned();
            while !whole.contains(';') {
                whole = whole + " " + lines.next().expect("a use statement ends with ';'").1;
            }
            let tree = whole.split(';').next().unwrap_or_default().split_whitespace().collect::<Vec<_>>();
            let tree = tree.join(" ");
            let (base, rest) = if let Some(t) = tree.strip_prefix("crate::") {
                (&[][..], t)
            } else if tree.starts_with("super::") && !indented {
                let ups = tree.matches("super::").count();
                (&module[..module.len().saturating_sub(ups)], tree.rsplit("super::").next().unwrap_or(""))
            } else {
                continue;
            };
            for path in expand(rest) {
                let path = base.iter().cloned().chain(path).collect();
                out.push(Import { line: at + 1, text: format!("use {tree}"), path });
            }
            continue;
        }
        let code = code.split(" //").next().unwrap_or_default();
        for (i, _) in code.match_indices("crate::") {
            if code[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || "_$:".contains(c)) {
                continue;
            }
            let tail = &code[i + "crate::".len()..];
            let end =
                tail.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(tail.len());
            let path: Vec<String> =
                tail[..end].split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect();
            if !path.is_empty() {
                out.push(Import { line: at + 1, text: format!("crate::{}", path.join("::")), path });
            }
        }
    }
    out
}

/// The root's re-exports (`pub use config::{Builder, …}` in `lib.rs`): name → module path.
fn root_exports(lib: &str) -> BTreeMap<String, Vec<String>> {
    let code: Vec<&str> = lib.lines().filter(|l| !l.starts_with("//")).collect();
    let trees = code.join("\n");
    let trees = trees.split(';').filter_map(|statement| Some(statement.split_once("pub use ")?.1));
    let paths = trees.flat_map(expand);
    paths.filter_map(|path| path.split_last().map(|(name, module)| (name.clone(), module.to_vec()))).collect()
}

/// `module` is `name` or inside it.
fn within(module: &str, name: &str) -> bool {
    module == name || module.strip_prefix(name).is_some_and(|rest| rest.starts_with("::"))
}

/// The row a module path belongs to: the longest row name that prefixes it.
fn row_of<'a>(rows: &'a [Row], path: &[String]) -> Option<&'a Row> {
    let path = path.join("::");
    rows.iter().filter(|r| within(&path, &r.module)).max_by_key(|r| r.module.len())
}

fn allows(row: &Row, target: &Row) -> bool {
    row.module == target.module
        || row.may.iter().any(|m| match m {
            May::Below => target.layer > row.layer,
            May::Layer(n) => target.layer == *n,
            May::Module(name) => within(&target.module, name),
        })
}

/// What a failure says: the file and line, the import, the rule it breaks and what to do.
fn violation(file: &str, import: &Import, path: &[String], row: &Row, target: &Row) -> String {
    let layer = |r: &Row| format!("layer {} {}", r.layer, LAYERS[r.layer - 1]);
    let (line, text, path, from) = (import.line, &import.text, path.join("::"), &target.module);
    let what =
        format!("src/{file}:{line}: `{text}` imports `crate::{path}` from `{from}` ({})", layer(target));
    let rule = format!("the row of `{}` ({}) may use only: {}", row.module, layer(row), row.may_text);
    let fix = if target.layer < row.layer {
        "an upward import; move what it needs down (or, while that is being fixed, list it among the \
         exceptions in the Layout table in src/lib.rs, with a reason)"
            .to_owned()
    } else {
        format!(
            "import from what the row allows, or add `{}` to its \"may use\" in src/lib.rs",
            target.module
        )
    };
    format!("{what}, but {rule}. Fix: {fix}.")
}

#[test]
fn every_import_is_allowed_by_the_layout_table() {
    let lib = read("lib.rs");
    let tables = layout_tables(&lib);
    let rows = rows(&tables[0]);
    let exports = root_exports(&lib);
    let exceptions = tables.iter().find(|t| t[0][..2] == ["file".to_owned(), "imports".to_owned()]);
    let exceptions = exceptions.map_or(&[][..], |table| &table[1..]);
    let mut used = vec![false; exceptions.len()];
    let mut failures = Vec::new();
    for (file, module) in files() {
        let Some(row) = row_of(&rows, &module) else {
            failures.push(format!("src/{file}: no row of the Layout table (in lib.rs) owns this file"));
            continue;
        };
        let mut seen = BTreeSet::new();
        for import in imports(&read(&file), &module) {
            let mut path = import.path.clone();
            if let Some(from) = exports.get(&path[0]) {
                path.splice(..0, from.iter().cloned());
            }
            let Some(target) = row_of(&rows, &path) else {
                failures.push(format!("src/{file}:{}: `{}`: no row owns it", import.line, import.text));
                continue;
            };
            if allows(row, target) || !seen.insert((import.line, target.module.clone())) {
                continue;
            }
            let excepted = exceptions.iter().position(|e| {
                ticked(&e[0]).first() == Some(&row.module) && ticked(&e[1]).first() == Some(&target.module)
            });
            match excepted {
                Some(i) => used[i] = true,
                None => failures.push(violation(&file, &import, &path, row, target)),
            }
        }
    }
    for (e, _) in exceptions.iter().zip(used).filter(|(_, used)| !used) {
        let (file, imports) = (&e[0], &e[1]);
        failures.push(format!(
            "Layout exception {file} imports {imports} is no longer needed: remove it from src/lib.rs"
        ));
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

#[test]
fn every_row_names_files_that_exist() {
    let rows = rows(&layout_tables(&read("lib.rs"))[0]);
    let src = src();
    let has = |module: &str| {
        let path = module.replace("::", "/");
        src.join(format!("{path}.rs")).is_file() || src.join(format!("{path}/mod.rs")).is_file()
    };
    for row in &rows {
        assert!(has(&row.module), "Layout row `{}`: no such file", row.module);
        for sub in &row.subs {
            assert!(
                has(&format!("{}::{sub}", row.module)),
                "Layout row `{}`: no file for `{sub}`",
                row.module
            );
        }
    }
}

#[test]
fn grouped_and_inline_imports_are_read() {
    let module = ["a".to_owned(), "b".to_owned()];
    // Written with CRATE so that this file's own scan doesn't read these as imports.
    let text = "use CRATE::x::{\n    self,\n    y::{Z, W as V},\n};\n// CRATE::no::comment\n\
                fn f() { CRATE::q::r(); }\nuse super::S;\nmod t {\n    use super::*;\n}\n"
        .replace("CRATE", "crate");
    let found: Vec<String> = imports(&text, &module).into_iter().map(|i| i.path.join("::")).collect();
    assert_eq!(found, ["x", "x::y::Z", "x::y::W", "q::r", "a::S"]);
}
