//! Sheets of rows, from CSV (the `csv` crate) or from a workbook (XLSX, XLSM, XLS or ODS, by
//! `calamine`), with every row and column numbered as a spreadsheet numbers them, so that
//! every problem can name its file, sheet, row and column.

use crate::{ImportError, Problem};
use std::path::Path;

/// Files larger than this are refused before they are read: a survey sheet of 100,000 rows
/// is a few megabytes.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// One sheet: a header row naming the columns, then data rows.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file's name as the user gave it.
    pub file: String,
    /// The sheet's name (`None` for CSV).
    pub sheet: Option<String>,
    /// The column names, as written in the header row.
    pub columns: Vec<String>,
    /// The data rows (rows with every cell empty are left out).
    pub rows: Vec<Row>,
    /// For a sheet made from another (a Kumu map read as a survey wave): how each column
    /// is named in the user's file, so that problems point at what the user sees.
    pub labels: Option<Vec<String>>,
}

/// One data row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Its row number in the sheet as a spreadsheet shows it (the header is usually row 1).
    pub number: usize,
    /// Its cells as text, trimmed, one per column (missing cells are empty).
    pub cells: Vec<String>,
}

impl Table {
    /// The index of the column named `name` (case, spaces and underscores ignored).
    pub fn column(&self, name: &str) -> Option<usize> {
        let want = normalise(name);
        self.columns.iter().position(|c| normalise(c) == want)
    }

    /// A column as a person finds it: its letter and its header, `C (kind)`.
    pub fn column_label(&self, index: usize) -> String {
        if let Some(label) = self.labels.as_ref().and_then(|l| l.get(index)) {
            return label.clone();
        }
        format!(
            "{} ({})",
            column_letter(index),
            self.columns.get(index).map_or("", String::as_str)
        )
    }

    /// A problem at `row` (a row number) and `column` (an index), or of the whole sheet.
    pub fn problem(&self, row: Option<usize>, column: Option<usize>, message: impl Into<String>) -> Problem {
        Problem {
            file: self.file.clone(),
            sheet: self.sheet.clone(),
            row,
            column: column.map(|c| self.column_label(c)),
            message: message.into(),
        }
    }

    /// Whether the sheet's name is `name` (case ignored).
    pub fn is_named(&self, name: &str) -> bool {
        self.sheet.as_deref().is_some_and(|s| normalise(s) == normalise(name))
    }
}

fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// `A`, `B`, ..., `Z`, `AA`, ... for a 0-based column index.
pub fn column_letter(mut index: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII letters")
}

/// Reads every sheet of `path`: one for CSV (by its `.csv` or `.txt` ending), every
/// non-empty sheet of a workbook otherwise.
pub fn read_file(path: &Path) -> Result<Vec<Table>, ImportError> {
    let upload = crate::Upload::read(path)?;
    read_bytes(&upload.name, upload.bytes)
}

/// Reads every sheet of a file's bytes, its kind told by the ending of `name`: one sheet
/// for CSV (`.csv`, `.txt`), every non-empty sheet of a workbook otherwise.
pub fn read_bytes(name: &str, bytes: Vec<u8>) -> Result<Vec<Table>, ImportError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ImportError::Read {
            file: name.to_string(),
            message: format!(
                "it is {} MiB; files over {} MiB are refused",
                bytes.len() >> 20,
                MAX_FILE_BYTES >> 20
            ),
        });
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" | "txt" => Ok(vec![read_csv(name, &bytes)?]),
        "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => read_workbook(name, bytes),
        _ => Err(ImportError::Read {
            file: name.to_string(),
            message: "unknown kind of file: name it .csv for CSV, or .xlsx (also .xlsm, .xls, .ods) for a workbook"
                .into(),
        }),
    }
}

/// Reads CSV text: a header row, then data rows. A UTF-8 byte order mark is allowed.
pub fn read_csv(file: &str, bytes: &[u8]) -> Result<Table, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut records = reader.records();
    let problem = |row: Option<usize>, message: String| {
        ImportError::Problems(vec![Problem {
            file: file.to_string(),
            sheet: None,
            row,
            column: None,
            message,
        }])
    };
    let describe = |e: csv::Error| {
        let row = e.position().map(|p| p.line() as usize);
        let message = match e.kind() {
            csv::ErrorKind::Utf8 { .. } => "is not UTF-8 text: save the sheet as \"CSV UTF-8\"".to_string(),
            _ => e.to_string(),
        };
        problem(row, message)
    };
    let header = match records.next() {
        Some(r) => r.map_err(describe)?,
        None => {
            return Err(problem(
                None,
                "is empty: it needs a header row naming its columns".into(),
            ))
        }
    };
    let columns: Vec<String> = header
        .iter()
        .map(|c| c.trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    // Rows are numbered by the line each record starts on, as an editor shows it (the csv
    // crate's own line count does not count line breaks inside quoted cells).
    let mut lines = LineCounter::default();
    let mut last = header.position().map_or(1, |p| lines.line_at(bytes, p.byte() as usize));
    for record in records {
        let record = record.map_err(describe)?;
        let number = record
            .position()
            .map_or(last + 1, |p| lines.line_at(bytes, p.byte() as usize))
            .max(last + 1);
        last = number;
        let cells: Vec<String> = record.iter().map(str::to_string).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        rows.push(Row { number, cells });
    }
    Ok(Table {
        file: file.to_string(),
        sheet: None,
        columns,
        rows,
        labels: None,
    })
}

/// Line numbers of byte offsets, counted forwards once over the text.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: usize,
}

impl LineCounter {
    /// The 1-based line of the first character of a record that the reader began at
    /// `offset` (skipping the blank lines it skipped). Offsets must not go backwards.
    fn line_at(&mut self, bytes: &[u8], offset: usize) -> usize {
        let offset = offset.min(bytes.len());
        if offset >= self.offset {
            self.line += breaks(bytes, self.offset, offset);
            self.offset = offset;
        }
        let start = bytes[self.offset..]
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .map_or(bytes.len(), |i| self.offset + i);
        self.line + breaks(bytes, self.offset, start) + 1
    }
}

/// Line breaks in `bytes[from..to]`: LF, CRLF (counted at its LF, which may lie beyond
/// `to`), or a lone CR.
fn breaks(bytes: &[u8], from: usize, to: usize) -> usize {
    (from..to)
        .filter(|&i| bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}

/// Reads every non-empty sheet of a workbook; the first non-empty row of a sheet is its
/// header.
pub fn read_workbook(file: &str, bytes: Vec<u8>) -> Result<Vec<Table>, ImportError> {
    read_workbook_within(file, bytes, &WorkbookLimits::default())
}

/// [`read_workbook`] with other limits than the defaults.
pub fn read_workbook_within(file: &str, bytes: Vec<u8>, limits: &WorkbookLimits) -> Result<Vec<Table>, ImportError> {
    // calamine can panic on a damaged workbook (found by fuzzing: arithmetic overflow on a
    // cell reference of many letters, calamine 0.38); a damaged file is an error to
    // report, never a crash.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| workbook(file, bytes, limits))).unwrap_or_else(|_| {
        Err(ImportError::Read {
            file: file.to_string(),
            message: "is damaged: the workbook reader gave up on it (open it in a spreadsheet and save it again)"
                .into(),
        })
    })
}

/// How much of a workbook is read: what bounds the memory and time a hostile one can take.
#[derive(Debug, Clone, Copy)]
pub struct WorkbookLimits {
    /// What a zipped workbook (XLSX, XLSM, XLSB, ODS) may unpack to, all its parts
    /// together. A few megabytes of deflated XML can unpack to gigabytes (a "zip bomb");
    /// this is checked by unpacking into nothing before the workbook reader reads a part.
    pub unpacked_bytes: u64,
    /// The most non-empty cells read from one workbook: what its rows hold in memory is
    /// bounded by this, not by what its cell references claim.
    pub cells: usize,
    /// The most columns a sheet may use: a value further right is a problem, not a reason
    /// to make every row that wide.
    pub columns: usize,
}

impl Default for WorkbookLimits {
    /// Room for a survey of a million relationships (a 100,000-row sheet unpacks to about
    /// 20 MiB and holds 800,000 cells) in a few hundred MiB of memory.
    fn default() -> Self {
        WorkbookLimits {
            unpacked_bytes: 256 << 20,
            cells: 4_000_000,
            columns: 1_000,
        }
    }
}

fn workbook(file: &str, bytes: Vec<u8>, limits: &WorkbookLimits) -> Result<Vec<Table>, ImportError> {
    use calamine::{Reader, Sheets};
    let read = |message: String| ImportError::Read {
        file: file.to_string(),
        message,
    };
    if bytes.starts_with(b"PK") {
        check_unpacked(file, &bytes, limits.unpacked_bytes)?;
    }
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes))
        .map_err(|e| read(format!("is not a workbook calamine can read ({e})")))?;
    let mut tables = Vec::new();
    let mut budget = limits.cells;
    for sheet in book.sheet_names() {
        let mut cells = SheetCells::new(file, &sheet, budget, limits);
        // XLSX and XLSB are read cell by cell, so a sheet whose cells sit far apart (A1
        // and XFD1048576) costs two cells, not the rectangle between them; calamine's
        // other readers build that rectangle, bounded by its own limits.
        // The two cell readers are different types with the same methods.
        macro_rules! cell_by_cell {
            ($book:expr) => {{
                let sheet_error = |e| read(format!("sheet {sheet}: {e}"));
                let mut reader = $book.worksheet_cells_reader(&sheet).map_err(sheet_error)?;
                while let Some(cell) = reader.next_cell().map_err(sheet_error)? {
                    let (r, c) = cell.get_position();
                    cells.push(r, c, &calamine::Data::from(cell.get_value().clone()))?;
                }
            }};
        }
        match &mut book {
            Sheets::Xlsx(x) => cell_by_cell!(x),
            Sheets::Xlsb(x) => cell_by_cell!(x),
            Sheets::Xls(_) | Sheets::Ods(_) => {
                let range = book
                    .worksheet_range(&sheet)
                    .map_err(|e| read(format!("sheet {sheet}: {e}")))?;
                let (r0, c0) = range.start().unwrap_or((0, 0));
                for (r, c, value) in range.used_cells() {
                    cells.push(r0 + r as u32, c0 + c as u32, value)?;
                }
            }
        }
        budget = cells.budget;
        if let Some(table) = cells.into_table()? {
            tables.push(table);
        }
    }
    Ok(tables)
}

/// Unpacks every part of a zipped workbook into nothing, refusing it once the parts come
/// to more than `most` bytes: what a part declares of its size is not trusted.
fn check_unpacked(file: &str, bytes: &[u8], most: u64) -> Result<(), ImportError> {
    use std::io::Read;
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        // Not a zip the checker reads: the workbook reader says what is wrong with it.
        return Ok(());
    };
    let mut left = most;
    for i in 0..zip.len() {
        let Ok(part) = zip.by_index(i) else { continue };
        let unpacked =
            std::io::copy(&mut part.take(left + 1), &mut std::io::sink()).map_err(|e| ImportError::Read {
                file: file.to_string(),
                message: format!("is damaged: part {} does not unpack ({e})", i + 1),
            })?;
        if unpacked > left {
            return Err(ImportError::Read {
                file: file.to_string(),
                message: format!(
                    "unpacks to more than {} MiB, more than a workbook of survey rows needs (save it as CSV, or split it)",
                    most >> 20
                ),
            });
        }
        left -= unpacked;
    }
    Ok(())
}

/// A sheet's non-empty cells, kept by row (a sheet's rows may come in any order), each
/// row as wide as its rightmost cell.
struct SheetCells<'a> {
    file: &'a str,
    sheet: &'a str,
    rows: std::collections::BTreeMap<u32, Vec<String>>,
    problems: Vec<Problem>,
    /// How many more cells the workbook may have.
    budget: usize,
    limits: &'a WorkbookLimits,
}

impl<'a> SheetCells<'a> {
    fn new(file: &'a str, sheet: &'a str, budget: usize, limits: &'a WorkbookLimits) -> Self {
        SheetCells {
            file,
            sheet,
            rows: Default::default(),
            problems: Vec::new(),
            budget,
            limits,
        }
    }

    fn problem(&self, row: u32, col: usize, message: String) -> Problem {
        Problem {
            file: self.file.to_string(),
            sheet: Some(self.sheet.to_string()),
            row: Some(row as usize + 1),
            column: Some(column_letter(col)),
            message,
        }
    }

    /// A cell at 0-based `row` and `col`.
    fn push(&mut self, row: u32, col: u32, value: &calamine::Data) -> Result<(), ImportError> {
        let col = col as usize;
        let t = match text(value) {
            Ok(t) => t,
            Err(e) => {
                let p = self.problem(row, col, e);
                self.problems.push(p);
                return Ok(());
            }
        };
        if t.is_empty() {
            return Ok(());
        }
        if col >= self.limits.columns {
            // One problem is enough to say what is wrong; the sheet is refused.
            let p = self.problem(
                row,
                col,
                format!(
                    "a value beyond column {}, the last a sheet may use here",
                    column_letter(self.limits.columns.saturating_sub(1))
                ),
            );
            return Err(ImportError::Problems(vec![p]));
        }
        if self.budget == 0 {
            return Err(ImportError::Read {
                file: self.file.to_string(),
                message: format!(
                    "has more than {} cells with values, more than this reads from a workbook (save it as CSV, or split it)",
                    self.limits.cells
                ),
            });
        }
        self.budget -= 1;
        let cells = self.rows.entry(row).or_default();
        if cells.len() <= col {
            cells.resize(col + 1, String::new());
        }
        cells[col] = t;
        Ok(())
    }

    /// The sheet as a table: its first row with a value is the header (`None` for a sheet
    /// with no values).
    fn into_table(self) -> Result<Option<Table>, ImportError> {
        if !self.problems.is_empty() {
            return Err(ImportError::Problems(self.problems));
        }
        let mut rows = self.rows.into_iter().map(|(r, cells)| Row {
            number: r as usize + 1,
            cells,
        });
        let Some(header) = rows.next() else { return Ok(None) };
        Ok(Some(Table {
            file: self.file.to_string(),
            sheet: Some(self.sheet.to_string()),
            columns: header.cells,
            rows: rows.collect(),
            labels: None,
        }))
    }
}

/// A cell as text: numbers as they read (1, not 1.0), booleans as true or false.
fn text(cell: &calamine::Data) -> Result<String, String> {
    use calamine::Data;
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        // A date where text or a number is wanted reads as the spreadsheet's day number.
        Data::DateTime(d) => d.as_f64().to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return Err(format!("the cell holds a spreadsheet error ({e:?})")),
    })
}
