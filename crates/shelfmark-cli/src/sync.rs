//! `shelfmark sync`: one sync of the cache with the server (pull the change feed, push the
//! outbox), with a progress bar when stderr is a terminal and a one-line summary (or the
//! report as JSON) at the end.

use std::io::IsTerminal as _;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use shelfmark_client::{SyncEvent, SyncReport};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::CliError;
use crate::session::{Cache, runtime};

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Print the sync report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cache: &Cache, args: &SyncArgs) -> Result<(), CliError> {
    let store = cache.open_shared()?;
    let pending = store
        .lock()
        .map_err(|_| CliError::Client(shelfmark_client::ClientError::StorePoisoned))?
        .sync_counts()?
        .pending_edits;
    let show = std::io::stderr().is_terminal();
    let report = runtime()?.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let progress = tokio::spawn(progress(rx, show, pending));
        let result = cache
            .with_client(|client| {
                let (store, tx) = (store.clone(), tx.clone());
                async move { client.sync(&store, &tx).await }
            })
            .await;
        drop(tx);
        let _ = progress.await;
        result
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", summary(&report));
    }
    Ok(())
}

fn summary(r: &SyncReport) -> String {
    let mut s = format!(
        "pulled {} change(s) (feed at {}); pushed {} edit(s)",
        r.pull.changes, r.pull.last_seq, r.push.pushed
    );
    if r.push.merged > 0 {
        s += &format!(", {} merged with the server's changes", r.push.merged);
    }
    if r.push.conflicts > 0 {
        s += &format!(
            "; {} conflict(s) wait in the inbox (`shelfmark conflicts`)",
            r.push.conflicts
        );
    }
    if r.push.lost_holds > 0 {
        s += &format!("; {} hold(s) lost: every copy taken", r.push.lost_holds);
    }
    if r.push.failed > 0 {
        s += &format!("; {} edit(s) refused by the server", r.push.failed);
    }
    s
}

/// Draws the sync's events: a bar over the feed while pulling (the server's latest sequence
/// number bounds it; a spinner when the server did not say), then a bar over the pending
/// edits while pushing.
async fn progress(mut events: UnboundedReceiver<SyncEvent>, show: bool, pending: i64) {
    let bar = if show {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let style = |template: &str| {
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
    };
    let mut pulled = 0usize;
    let mut first_seq = None;
    let mut pushing = false;
    while let Some(event) = events.recv().await {
        match event {
            SyncEvent::Started => bar.set_message("connecting"),
            SyncEvent::PagePulled {
                changes,
                last_seq,
                server_seq,
            } => {
                pulled += changes;
                let start = *first_seq.get_or_insert(last_seq - changes as i64);
                if let Some(end) = server_seq.filter(|&end| end > start) {
                    bar.set_style(style("pulling {bar:30.cyan/blue} {percent:>3}% {msg}"));
                    bar.set_length(u64::try_from(end - start).unwrap_or(1));
                    bar.set_position(u64::try_from(last_seq - start).unwrap_or(0));
                }
                bar.set_message(format!("{pulled} change(s)"));
            }
            SyncEvent::EditPushed {
                pushed,
                conflicts,
                failed,
            } => {
                if !pushing {
                    pushing = true;
                    bar.set_style(style("pushing {bar:30.cyan/blue} {pos}/{len} edits {msg}"));
                    bar.set_length(u64::try_from(pending.max(1)).unwrap_or(1));
                }
                let done = pushed + conflicts + failed;
                bar.set_position(u64::try_from(done).unwrap_or(u64::MAX));
                bar.set_message(format!("({conflicts} conflict(s), {failed} refused)"));
            }
            SyncEvent::Finished { .. } | SyncEvent::Failed { .. } => break,
        }
    }
    bar.finish_and_clear();
}
