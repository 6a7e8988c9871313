//! A MARC file brought to the desk (a vendor's batch), read into the cache's import
//! candidates: each record mapped to a book by the one mapping (`shelfmark_core::marc`), or
//! rejected with its reason. The desk's batches are small (hundreds of records), so the file
//! is read whole into candidates for the preview; the server's bulk load streams instead.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use shelfmark_core::marc::to_book;
use shelfmark_marc::MarcError;
use shelfmark_store::ImportCandidate;

/// Why a MARC file cannot be read (records that are bad on their own are candidates with a
/// reason instead).
#[derive(Debug, thiserror::Error)]
pub enum MarcFileError {
    #[error("{path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Marc {
        path: String,
        #[source]
        source: MarcError,
    },
}

/// Reads every record of a MARC file (ISO 2709 or MARCXML, told by its first bytes).
pub fn read_marc_file(path: &Path) -> Result<Vec<ImportCandidate>, MarcFileError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| MarcFileError::Open {
        path: shown.clone(),
        source,
    })?;
    let marc = |source| MarcFileError::Marc {
        path: shown.clone(),
        source,
    };
    let reader = shelfmark_marc::read_detected(BufReader::new(file)).map_err(marc)?;
    let mut candidates = Vec::new();
    for entry in reader {
        let entry = entry.map_err(marc)?;
        let book = entry
            .record
            .and_then(|r| to_book(&r).map(|i| i.book).map_err(|e| e.to_string()));
        candidates.push(ImportCandidate {
            position: entry.position,
            control_number: entry.control_number,
            book,
        });
    }
    Ok(candidates)
}
