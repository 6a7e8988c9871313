//! Benchmark: the IT admin's bulk load of a MARC catalogue, side by side in one run with
//! Index Data's `yaz-marcdump -i marc -o line` (Debian's `yaz`) reading the same file.
//!
//!   cargo bench -p shelfmark-server --bench marc_import -- [--records 250000] [--rounds 3]
//!       [--keep FOLDER]
//!
//! The file is generated here: ISO 2709, UTF-8, records of realistic size (about 900 bytes:
//! an 001/003/005/008, an ISBN on 85% of them, a main entry and up to two added authors, a
//! title with a subtitle and statement of responsibility, a 264, a 300, three subjects, a
//! note, a summary on a third of them). Each round runs yaz, then the release
//! `shelfmark-server import marc FILE --json` into a fresh SQLite database (every record a
//! normal write: revision, change feed, full-text index), each under `/usr/bin/time` for its
//! wall time and peak memory. Reported: the medians, and the import's time as a multiple of
//! yaz's. With `--keep`, the file and the last round's database stay in FOLDER (to profile the
//! import, or to try it by hand).
//!
//! Run as a test (`cargo test --benches`, clippy's `--all-targets`), it only says how to run it.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail, ensure};
use shelfmark_core::marc::{ControlField, DataField, Record};

const WORDS: &[&str] = &[
    "river", "garden", "history", "light", "winter", "stone", "harbour", "letters", "north",
    "memory", "island", "music", "silence", "empire", "journey", "science", "children", "city",
    "house", "war", "sea", "night", "glass", "road", "fire", "bread", "kingdom", "voices",
];
const SURNAMES: &[&str] = &[
    "Ames",
    "Bell",
    "Cole",
    "Dunn",
    "Ekwueme",
    "Fischer",
    "García",
    "Horvath",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
];
const PUBLISHERS: &[&str] = &[
    "Harvill Secker",
    "Faber & Faber",
    "Penguin Books",
    "Oxford University Press",
    "Gallimard",
    "Suhrkamp",
    "Random House",
    "Bloomsbury",
];

/// A small deterministic generator (the same file every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() as usize) % from.len()]
    }
    fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| self.pick(WORDS))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn record(n: usize, rng: &mut Lcg) -> Record {
    let df = DataField::new;
    let mut fields = Vec::new();
    if rng.next() % 100 < 85 {
        let isbn = shelfmark_core::isbn::from_body(n as u32);
        fields.push(df(
            "020",
            ' ',
            ' ',
            &[('a', &format!("{isbn} (pbk.)")), ('c', "£9.99")],
        ));
    }
    let author = format!("{}, {}.", rng.pick(SURNAMES), rng.pick(SURNAMES));
    fields.push(df(
        "100",
        '1',
        ' ',
        &[('a', &format!("{author},")), ('e', "author.")],
    ));
    let mut title = rng.words(3);
    title[..1].make_ascii_uppercase();
    let subtitle = rng.words(5);
    fields.push(df(
        "245",
        '1',
        '0',
        &[
            ('a', &format!("{title} :")),
            ('b', &format!("{subtitle} /")),
            ('c', &author),
        ],
    ));
    let year = format!("{}.", 1950 + rng.next() % 75);
    fields.push(df(
        "264",
        ' ',
        '1',
        &[
            ('a', "London :"),
            ('b', &format!("{},", rng.pick(PUBLISHERS))),
            ('c', &year),
        ],
    ));
    fields.push(df(
        "300",
        ' ',
        ' ',
        &[
            ('a', &format!("{} pages ;", 100 + rng.next() % 600)),
            ('c', "24 cm"),
        ],
    ));
    fields.push(df(
        "500",
        ' ',
        ' ',
        &[('a', &format!("{}.", rng.words(12)))],
    ));
    if rng.next().is_multiple_of(3) {
        fields.push(df(
            "520",
            ' ',
            ' ',
            &[('a', &format!("{}.", rng.words(40)))],
        ));
    }
    for _ in 0..3 {
        let mut subject = rng.words(2);
        subject[..1].make_ascii_uppercase();
        fields.push(df(
            "650",
            ' ',
            '0',
            &[('a', &format!("{subject}.")), ('x', "History.")],
        ));
    }
    for _ in 0..(rng.next() % 3) {
        let added = format!("{}, {}.", rng.pick(SURNAMES), rng.pick(SURNAMES));
        fields.push(df("700", '1', ' ', &[('a', &added)]));
    }
    Record {
        leader: "00000nam a2200000 i 4500".into(),
        control_fields: vec![
            ControlField::new("001", &format!("bench{n:08}")),
            ControlField::new("003", "XxBench"),
            ControlField::new("005", "20261203120000.0"),
            ControlField::new("008", "261203s2001    enk           000 0 eng d"),
        ],
        data_fields: fields,
    }
}

/// Runs `cmd` under `/usr/bin/time`: its wall seconds and peak resident kilobytes.
fn timed(cmd: &mut Command) -> anyhow::Result<(f64, u64, String)> {
    let out = cmd.output().context("run")?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(out.status.success(), "{stderr}");
    let last = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("TIME "))
        .context("the time line")?;
    let mut parts = last.split_whitespace().skip(1);
    let secs: f64 = parts.next().context("seconds")?.parse()?;
    let kb: u64 = parts.next().context("kilobytes")?.parse()?;
    Ok((secs, kb, String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn under_time(program: &str) -> Command {
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "TIME %e %M", program]);
    c
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn run(records: usize, rounds: usize, keep: Option<&Path>) -> anyhow::Result<()> {
    for tool in ["/usr/bin/time", "/usr/bin/yaz-marcdump"] {
        if !Path::new(tool).exists() {
            bail!("needs {tool} (Debian: apt-get install -y time yaz)");
        }
    }
    let temp = tempfile::tempdir()?;
    let dir = keep.unwrap_or(temp.path());
    std::fs::create_dir_all(dir)?;
    let file = dir.join("catalogue.mrc");
    let mut rng = Lcg(17);
    let out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    shelfmark_marc::write_iso2709(out, (0..records).map(|n| record(n, &mut rng)))?;
    let size = std::fs::metadata(&file)?.len();
    eprintln!("{records} records, {:.1} MB", size as f64 / 1e6);
    let server = env!("CARGO_BIN_EXE_shelfmark-server");
    let settings = dir.join("server.toml");
    std::fs::write(&settings, "")?;
    let (mut yaz, mut ours, mut yaz_mem, mut our_mem) = (vec![], vec![], vec![], vec![]);
    for round in 1..=rounds {
        let (secs, kb, _) = timed(
            under_time("yaz-marcdump")
                .args(["-i", "marc", "-o", "line"])
                .arg(&file)
                .stdout(std::process::Stdio::null()),
        )?;
        yaz.push(secs);
        yaz_mem.push(kb as f64);
        let db = dir.join(format!("round{round}.db"));
        std::fs::remove_file(&db).ok();
        let (secs, kb, stdout) = timed(
            under_time(server)
                .arg("--config")
                .arg(&settings)
                .arg("--database")
                .arg(format!("sqlite://{}", db.display()))
                .args(["import", "marc", "--json"])
                .arg(&file)
                .env("RUST_LOG", "warn"),
        )?;
        let summary: serde_json::Value = serde_json::from_str(stdout.trim())?;
        ensure!(
            summary["created"] == records && summary["rejected"] == 0,
            "unexpected summary {summary}"
        );
        ours.push(secs);
        our_mem.push(kb as f64);
        eprintln!(
            "round {round}: yaz {:.2} s; import {secs:.2} s, {:.0} MB peak",
            yaz[round - 1],
            kb as f64 / 1024.0
        );
        if keep.is_none() || round < rounds {
            for suffix in ["", "-wal", "-shm"] {
                std::fs::remove_file(format!("{}{suffix}", db.display())).ok();
            }
        }
    }
    let (y, o) = (median(yaz), median(ours));
    println!(
        "yaz-marcdump -i marc -o line: {y:.2} s, {:.0} MB peak",
        median(yaz_mem) / 1024.0
    );
    println!(
        "shelfmark-server import marc: {o:.2} s ({:.0} records/s), {:.0} MB peak, {:.1}x yaz",
        records as f64 / o,
        median(our_mem) / 1024.0,
        o / y
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        eprintln!(
            "the MARC import benchmark runs with: cargo bench -p shelfmark-server --bench \
             marc_import [-- --records 250000 --rounds 3]"
        );
        return Ok(());
    }
    let value = |name: &str, default: usize| -> anyhow::Result<usize> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args.get(i + 1).context(name.to_owned())?.parse()?),
            None => Ok(default),
        }
    };
    let keep = match args.iter().position(|a| a == "--keep") {
        Some(i) => Some(std::path::PathBuf::from(args.get(i + 1).context("--keep")?)),
        None => None,
    };
    run(
        value("--records", 250_000)?,
        value("--rounds", 3)?,
        keep.as_deref(),
    )
}
