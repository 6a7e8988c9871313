//! `shelfmark hold place`: a hold for a patron on a book (the hold shelf's commands are
//! `crate::circulation`'s). The server picks the copy (and only
//! one patron can win it), so the hold is saved in the outbox like any offline create and then
//! pushed at once; with no connection it stays there and is placed at the next sync.

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;
use shelfmark_core::{Book, Hold, Patron};
use shelfmark_store::OutboxState;
use uuid::Uuid;

use crate::CliError;
use crate::session::{Cache, runtime};

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Place a hold: the server allocates an available copy, or says none is free.
    Place(PlaceArgs),
    /// The hold shelf: holds whose copy is to fetch, and holds waiting for their patron.
    Shelf(crate::circulation::ShelfArgs),
    /// The copy is on the hold shelf: the patron is mailed (queued).
    Ready(crate::circulation::MoveArgs),
    /// The patron collected it: a loan (queued).
    Collected(crate::circulation::MoveArgs),
    /// Cancel a hold, for the patron or for staff (queued).
    Cancel(crate::circulation::CancelArgs),
}

#[derive(Debug, Args)]
pub struct PlaceArgs {
    #[arg(long, value_name = "ID")]
    pub patron: Uuid,
    #[arg(long, value_name = "ID")]
    pub book: Uuid,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What became of the hold.
#[derive(Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Outcome {
    /// The server placed it on a copy.
    Placed { hold: Value },
    /// Every copy was taken: the hold is lost. The server's answer says whether the patron is
    /// premium and names the escalation it opened for the manager.
    Lost { hold_id: Uuid, answer: Value },
    /// The server refused it for another reason; the problem says why.
    Refused { hold_id: Uuid, problem: Value },
    /// Not sent yet (no connection): it waits in the outbox.
    Pending { hold_id: Uuid, reason: String },
}

pub fn run(cache: &Cache, command: &HoldCommand) -> Result<bool, CliError> {
    use crate::circulation::{move_hold, shelf};
    use shelfmark_core::HoldStatus;
    match command {
        HoldCommand::Place(args) => place(cache, args),
        HoldCommand::Shelf(args) => shelf(cache, args).map(|()| true),
        HoldCommand::Ready(a) => move_hold(cache, a.id, HoldStatus::Ready, None).map(|()| true),
        HoldCommand::Collected(a) => {
            move_hold(cache, a.id, HoldStatus::Fulfilled, None).map(|()| true)
        }
        HoldCommand::Cancel(a) => {
            move_hold(cache, a.id, HoldStatus::Cancelled, Some(a.reason)).map(|()| true)
        }
    }
}

/// Places the hold; false when the server refused it or every copy was taken.
fn place(cache: &Cache, args: &PlaceArgs) -> Result<bool, CliError> {
    let store = cache.open_shared()?;
    let hold = Hold::request(Uuid::now_v7(), args.patron, args.book);
    {
        let mut s = store
            .lock()
            .map_err(|_| CliError::Client(shelfmark_client::ClientError::StorePoisoned))?;
        s.get::<Book>(args.book)?
            .ok_or(CliError::NoSuchBook(args.book))?;
        s.get::<Patron>(args.patron)?
            .ok_or(CliError::NoSuchPatron(args.patron))?;
        s.save(&hold)?;
    }
    let pushed = runtime()?.block_on(cache.with_client(|client| {
        let store = store.clone();
        async move {
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            client.push(&store, &tx).await
        }
    }));
    let s = store
        .lock()
        .map_err(|_| CliError::Client(shelfmark_client::ClientError::StorePoisoned))?;
    let entry = s.outbox()?.into_iter().find(|e| e.record_id == hold.id);
    let outcome = match (pushed, entry) {
        (_, None) => Outcome::Placed {
            hold: s
                .get::<Hold>(hold.id)?
                .map(|c| serde_json::to_value(c.record))
                .transpose()?
                .unwrap_or(Value::Null),
        },
        (_, Some(e)) if e.state == OutboxState::Lost => Outcome::Lost {
            hold_id: hold.id,
            answer: s.hold_outcome(hold.id)?.unwrap_or(Value::Null),
        },
        (_, Some(e)) if e.state == OutboxState::Failed => Outcome::Refused {
            hold_id: hold.id,
            problem: e.problem.unwrap_or(Value::Null),
        },
        (Err(err), Some(_)) => Outcome::Pending {
            hold_id: hold.id,
            reason: err.to_string(),
        },
        (Ok(_), Some(_)) => Outcome::Pending {
            hold_id: hold.id,
            reason: "an earlier edit is still waiting".into(),
        },
    };
    let placed = !matches!(outcome, Outcome::Refused { .. } | Outcome::Lost { .. });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(placed);
    }
    match &outcome {
        Outcome::Placed { hold } => println!(
            "hold {} placed on copy {}",
            hold["id"].as_str().unwrap_or_default(),
            hold["copy_id"].as_str().unwrap_or("(none)")
        ),
        Outcome::Lost { hold_id, answer } => {
            println!("hold {hold_id} lost: no copy of this book is available");
            if let Some(escalation) = answer["escalation_id"].as_str() {
                println!("a premium patron: escalation {escalation} was opened for the manager");
            }
        }
        Outcome::Refused { hold_id, problem } => {
            println!(
                "hold {hold_id} refused: {}",
                problem["detail"]
                    .as_str()
                    .or(problem["title"].as_str())
                    .unwrap_or("the server refused it")
            );
            if let Some(escalation) = problem["escalation_id"].as_str() {
                println!("a premium patron: escalation {escalation} was opened for the manager");
            }
        }
        Outcome::Pending { hold_id, reason } => {
            println!("hold {hold_id} saved; it will be placed at the next sync ({reason})")
        }
    }
    Ok(placed)
}
