//! The one list of status codes and connection states (`Status`, `State`) against what the C
//! header, the C++ wrapper and the Go package give their users: every code and state present,
//! with the same value.
use ndsr::status::Status;
use ndsr::State;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn the_header_has_every_status_and_state_with_its_value() {
    let header = read("include/ndsr.h");
    for s in Status::ALL {
        let line = format!("#define {} {}", s.name(), s.code());
        assert!(header.contains(&line), "include/ndsr.h lacks {line:?}");
    }
    for st in State::ALL {
        let line = format!("#define {} {}", st.c_name(), st as i32);
        assert!(header.contains(&line), "include/ndsr.h lacks {line:?}");
    }
    // Nothing in the header that the lists do not know.
    for line in header
        .lines()
        .filter(|l| l.starts_with("#define NDSR_E_") || l.starts_with("#define NDSR_STATE_"))
    {
        let name = line.split_whitespace().nth(1).unwrap();
        let known = Status::ALL.iter().any(|s| s.name() == name)
            || State::ALL.iter().any(|s| s.c_name() == name);
        assert!(known, "{name} is in the header but not in Status or State");
    }
}

#[test]
fn the_go_package_has_every_status_and_state() {
    // Literal numbers (so that `go doc` shows them), each named after its C macro, and each
    // checked against the header when the package builds (consts_check.go).
    let go = read("go/ndsr/ndsr.go");
    let check = read("go/ndsr/consts_check.go");
    let literal = |macro_name: &str, value: i32| {
        go.lines().any(|l| {
            l.ends_with(&format!("// {macro_name}"))
                && l.split('=')
                    .nth(1)
                    .and_then(|v| v.split_whitespace().next())
                    == Some(&value.to_string())
        })
    };
    for (name, value) in Status::ALL
        .iter()
        .map(|s| (s.name(), s.code()))
        .chain(State::ALL.iter().map(|st| (st.c_name(), *st as i32)))
    {
        assert!(literal(name, value), "go/ndsr lacks {name} = {value}");
        assert!(
            check.contains(&format!("C.{name})")),
            "consts_check.go does not check {name}"
        );
    }
}

#[test]
fn the_cpp_wrapper_uses_the_headers_codes() {
    // The wrapper's statuses are the header's own macros: it defines no numbers of its own.
    let hpp = read("include/ndsr.hpp");
    for s in Status::ALL {
        assert!(
            !hpp.contains(&format!("= {};", s.code())) || s.code() == 0,
            "include/ndsr.hpp has a literal status value {}",
            s.code()
        );
    }
    assert!(hpp.contains("#include \"ndsr.h\"") || hpp.contains("#include <ndsr.h>"));
}

/// Every function the C header declares.
fn header_functions() -> Vec<String> {
    let header = read("include/ndsr.h");
    let mut names: Vec<String> = header
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with("typedef") && !l.starts_with("#"))
        .filter_map(|l| {
            let open = l.find('(')?;
            let name = l[..open].rsplit([' ', '*']).next()?;
            name.starts_with("ndsr_").then(|| name.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 39, "parsed {names:?}");
    names
}

/// Whether `text` calls or names `f` (as a whole word).
fn names(text: &str, f: &str) -> bool {
    text.match_indices(f).any(|(i, _)| {
        let after = text[i + f.len()..].chars().next();
        let before = text[..i].chars().next_back();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(after) && !word(before)
    })
}

#[test]
fn the_cpp_wrapper_and_the_go_package_offer_every_c_function() {
    let hpp = read("include/ndsr.hpp");
    let go: String = [
        "ndsr.go",
        "callbacks.go",
        "snapshot.go",
        "more.go",
        "picker.go",
        "shim.c",
    ]
    .iter()
    .map(|f| read(&format!("go/ndsr/{f}")))
    .collect();
    let mut missing = Vec::new();
    for f in header_functions() {
        if !names(&hpp, &f) {
            missing.push(format!("C++ lacks {f}"));
        }
        if !names(&go, &f) {
            missing.push(format!("Go lacks {f}"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn the_go_options_set_every_c_option() {
    let options = read("src/options.rs");
    let go = read("go/ndsr/options.go");
    let body = &options[options.find("pub fn set(").unwrap()..];
    let body = &body[..body.find("_ => return Err").unwrap()];
    let keys: Vec<&str> = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
        .collect();
    assert!(keys.len() >= 15, "parsed {keys:?}");
    for k in keys {
        assert!(
            go.contains(&format!("\"{k}\"")),
            "go/ndsr Options lacks {k}"
        );
    }
}

/// The parameters of each header function: its name and how many it takes.
fn header_arities() -> Vec<(String, usize)> {
    let header = read("include/ndsr.h");
    let flat = header.replace('\n', " ");
    header_functions()
        .into_iter()
        .map(|f| {
            let at = flat
                .match_indices(&format!("{f}("))
                .map(|(i, _)| i)
                .find(|&i| !flat[..i].ends_with('`') && !flat[..i].ends_with('_'))
                .unwrap();
            let args = &flat[at + f.len() + 1..];
            let args = &args[..args.find(')').unwrap()];
            let n = match args.trim() {
                "void" | "" => 0,
                a => a.split(',').count(),
            };
            (f, n)
        })
        .collect()
}

#[test]
fn the_python_package_offers_every_c_function() {
    let lib = read("python/ndsr/_lib.py");
    let mut package: String = [
        "registry.py",
        "errors.py",
        "_callbacks.py",
        "compat/__init__.py",
    ]
    .iter()
    .map(|f| read(&format!("python/ndsr/{f}")))
    .collect();
    package.push_str(&lib[lib.find("lib = _load()").unwrap()..]);
    // The logging module takes the library's lines through ndsr_set_log_handler; its twin
    // ndsr_set_logger (one string instead of component and text) has nothing more to give.
    let same_sink = ["ndsr_set_logger"];
    let mut missing = Vec::new();
    for (f, n) in header_arities() {
        let declared = lib
            .lines()
            .find(|l| l.contains(&format!("(\"{f}\",")))
            .map(|l| {
                let args = &l[l.rfind('[').unwrap() + 1..l.rfind(']').unwrap()];
                args.split(',').filter(|a| !a.trim().is_empty()).count()
            });
        match declared {
            None => missing.push(format!("_lib.py does not declare {f}")),
            Some(d) if d != n => missing.push(format!("_lib.py gives {f} {d} arguments, not {n}")),
            _ => {}
        }
        if !names(&package, &f) && !same_sink.contains(&f.as_str()) {
            missing.push(format!("the Python package does not use {f}"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
