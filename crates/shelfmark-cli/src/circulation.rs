//! The circulation desk from the command line, offline like the window's: `shelfmark scan`
//! answers each barcode from the cache (a patron's card with `--patron`, then copies to check
//! out; copies alone to check in or to put on the hold shelf) and queues the change;
//! `shelfmark hold shelf` lists a branch's holds to fetch and waiting, and `hold ready`,
//! `hold collected`, `hold cancel` move one. `shelfmark sync` takes the changes to the server.

use clap::{Args, ValueEnum};
use shelfmark_core::circulation::Outcome;
use shelfmark_core::{CancelReason, HoldStatus};
use shelfmark_store::ScanResult;
use uuid::Uuid;

use crate::CliError;
use crate::session::Cache;

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The barcodes, in the order scanned.
    #[arg(required = true, value_name = "BARCODE")]
    pub barcodes: Vec<String>,
    /// The card of the patron the copies are checked out to (without it, a copy is checked in).
    #[arg(long, value_name = "CARD")]
    pub patron: Option<String>,
    /// Print each answer as JSON, one per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShelfArgs {
    /// Only this branch's hold shelf.
    #[arg(long)]
    pub branch: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    /// The hold.
    pub id: Uuid,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Reason {
    Patron,
    Staff,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    pub id: Uuid,
    /// Why: the patron no longer wants it, or staff cancelled it.
    #[arg(long, value_enum, default_value = "staff")]
    pub reason: Reason,
}

fn show(r: &ScanResult, json: bool) -> Result<(), CliError> {
    if json {
        println!("{}", serde_json::to_string(r)?);
    } else {
        let mark = if r.success { "ok " } else { "!! " };
        match &r.title {
            Some(title) => println!("{mark}{}  ({title})", r.message),
            None => println!("{mark}{}", r.message),
        }
    }
    Ok(())
}

/// Scans each barcode; false when any answer needs the librarian's attention.
pub fn scan(cache: &Cache, args: &ScanArgs) -> Result<bool, CliError> {
    let mut store = cache.open()?;
    let mut all_well = true;
    let mut patron = None;
    if let Some(card) = &args.patron {
        let answer = store.scan(card, None)?;
        show(&answer, args.json)?;
        if answer.outcome != Outcome::PatronSelected {
            return Ok(false);
        }
        patron = answer.patron.map(|p| p.id);
    }
    for code in &args.barcodes {
        let answer = store.scan(code, patron)?;
        show(&answer, args.json)?;
        all_well &= answer.success;
    }
    if !args.json {
        println!("(queued: `shelfmark sync` takes the changes to the server)");
    }
    Ok(all_well)
}

pub fn shelf(cache: &Cache, args: &ShelfArgs) -> Result<(), CliError> {
    let store = cache.open()?;
    let shelf = store.hold_shelf(args.branch.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&shelf)?);
        return Ok(());
    }
    for (status, heading) in [
        (HoldStatus::Active, "To fetch"),
        (HoldStatus::Ready, "Waiting for pickup"),
    ] {
        println!("{heading}:");
        let mut any = false;
        for h in shelf.iter().filter(|h| h.hold.record.status == status) {
            any = true;
            let r = &h.hold.record;
            let until = r
                .pickup_by
                .map(|d| format!("  until {}", d.format("%-d %b %Y")))
                .unwrap_or_default();
            println!(
                "  {}  {}  {}  copy {}{until}{}",
                r.id,
                h.patron.as_ref().map_or("?", |p| p.name.as_str()),
                h.title.as_deref().unwrap_or("?"),
                h.copy.as_ref().map_or("?", |c| c.barcode.as_str()),
                if h.hold.pending {
                    "  (waiting to sync)"
                } else {
                    ""
                },
            );
        }
        if !any {
            println!("  none");
        }
    }
    Ok(())
}

/// `hold ready`, `hold collected`, `hold cancel`: queued like any edit.
pub fn move_hold(
    cache: &Cache,
    id: Uuid,
    status: HoldStatus,
    reason: Option<Reason>,
) -> Result<(), CliError> {
    let mut store = cache.open()?;
    let reason = reason.map(|r| match r {
        Reason::Patron => CancelReason::Patron,
        Reason::Staff => CancelReason::Staff,
    });
    let hold = store.move_hold(id, status, reason)?;
    println!(
        "hold {} is now {} (queued: `shelfmark sync` takes it to the server)",
        hold.record.id,
        hold.record.status.as_str()
    );
    Ok(())
}
