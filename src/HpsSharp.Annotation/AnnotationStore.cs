using System.Globalization;
using HpsSharp.Core;
using Microsoft.Data.Sqlite;

namespace HpsSharp.Annotation;

/// <summary>What an annotator said about a pair, in the pair file's terms.</summary>
public enum Vote
{
    /// <summary>path1 is better.</summary>
    Path1,

    /// <summary>path2 is better.</summary>
    Path2,

    /// <summary>"Tie / can't tell".</summary>
    Tie,

    /// <summary>Skipped: no opinion recorded, and the pair is not shown to this annotator again.</summary>
    Skip,
}

/// <summary>One stored judgement.</summary>
/// <param name="Choice">What the annotator pressed: "left", "right", "tie" or "skip".</param>
/// <param name="LeftIsPath1">Whether path1 was shown on the left (the randomised order, as shown).</param>
/// <param name="Vote">The choice in the pair file's terms.</param>
/// <param name="Ms">Milliseconds from showing the pair to the answer, as measured by the page.</param>
public sealed record Judgement(long Id, long PairId, string Annotator, string Choice, bool LeftIsPath1, Vote Vote, long Ms, DateTime CreatedUtc);

/// <summary>The same annotator answered the same pair before.</summary>
public sealed class DuplicateJudgementException(long pairId, string annotator)
    : HpsException($"annotator '{annotator}' has already judged pair {pairId}")
{
    public long PairId { get; } = pairId;

    public string Annotator { get; } = annotator;
}

/// <summary>Why an answer was refused: each maps to one HTTP status in the app.</summary>
public enum JudgementRejection
{
    /// <summary>The annotator name, the choice or the time is not valid (400).</summary>
    Invalid,

    /// <summary>No pair has the id (404).</summary>
    UnknownPair,

    /// <summary>The pair was never shown to the annotator (409).</summary>
    NotShown,
}

/// <summary>
/// An answer the annotation queue refuses because of what the client sent. Only this (and
/// <see cref="DuplicateJudgementException"/>) becomes a client error; any other exception is a bug and stays a 500.
/// </summary>
public sealed class JudgementRejectedException(JudgementRejection rejection, string message)
    : HpsException(message)
{
    public JudgementRejection Rejection { get; } = rejection;
}

/// <summary>
/// The annotation database (SQLite, WAL journal, <c>synchronous=FULL</c>): the pairs (copied from the pairs and gold
/// files so that export and stats need only the database), the order each pair was shown in to each annotator, and
/// the judgements. Every write is its own committed transaction before the call returns, so a process killed after
/// a call loses nothing that call wrote. One connection, calls serialised: judgements arrive at human speed.
/// </summary>
public sealed class AnnotationStore : IDisposable
{
    private const string SchemaVersion = "1";
    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    private AnnotationStore(string path, SqliteConnection connection)
    {
        Path = path;
        _connection = connection;
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>
    /// Opens the database at <paramref name="path"/>; with <paramref name="create"/> it is created when missing,
    /// otherwise a missing file is an error (export and stats read an existing one).
    /// </summary>
    /// <exception cref="UserInputException">The file is not an annotation database.</exception>
    public static AnnotationStore Open(string path, bool create)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = System.IO.Path.GetFullPath(path);
        if (!create && !File.Exists(full))
        {
            throw new FileNotFoundException($"annotation database not found: {path}", path);
        }

        if (create)
        {
            var dir = System.IO.Path.GetDirectoryName(full);
            if (!string.IsNullOrEmpty(dir))
            {
                Directory.CreateDirectory(dir);
            }
        }

        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString());
        var store = new AnnotationStore(full, connection);
        try
        {
            connection.Open();
            store.Execute("PRAGMA busy_timeout=10000;");
            bool hasMeta = store.Scalar("SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='meta'") is long n && n > 0;
            bool hasTables = store.Scalar("SELECT COUNT(*) FROM sqlite_master WHERE type='table'") is long t && t > 0;
            if (!hasMeta && hasTables)
            {
                throw new UserInputException(path, "this SQLite file is not an annotation database (no 'meta' table)");
            }

            if (hasMeta)
            {
                var version = store.Scalar("SELECT value FROM meta WHERE key='schema_version'") as string;
                if (version != SchemaVersion)
                {
                    throw new UserInputException(path, $"annotation database schema version '{version}' is not the supported '{SchemaVersion}'");
                }
            }
            else if (!create)
            {
                throw new UserInputException(path, "the file is empty, not an annotation database");
            }

            // WAL lets export and stats read while the app writes; FULL makes each commit durable before it returns
            // (an fsync per judgement is nothing at human speed).
            store.Execute("PRAGMA journal_mode=WAL;");
            store.Execute("PRAGMA synchronous=FULL;");
            store.Execute("PRAGMA foreign_keys=ON;");
            if (!hasMeta)
            {
                store.Execute($"""
                    BEGIN;
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    INSERT INTO meta VALUES ('schema_version', '{SchemaVersion}');
                    CREATE TABLE pairs (
                      pair_id INTEGER PRIMARY KEY, prompt TEXT NOT NULL, path1 TEXT NOT NULL, path2 TEXT NOT NULL,
                      model1 TEXT, model2 TEXT);
                    CREATE TABLE shown (
                      pair_id INTEGER NOT NULL REFERENCES pairs(pair_id), annotator TEXT NOT NULL,
                      left TEXT NOT NULL CHECK (left IN ('path1', 'path2')), shown_utc TEXT NOT NULL,
                      PRIMARY KEY (pair_id, annotator)) WITHOUT ROWID;
                    CREATE TABLE judgements (
                      id INTEGER PRIMARY KEY AUTOINCREMENT,
                      pair_id INTEGER NOT NULL REFERENCES pairs(pair_id), annotator TEXT NOT NULL,
                      choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie', 'skip')),
                      left TEXT NOT NULL CHECK (left IN ('path1', 'path2')),
                      vote TEXT NOT NULL CHECK (vote IN ('path1', 'path2', 'tie', 'skip')),
                      ms INTEGER NOT NULL CHECK (ms >= 0), created_utc TEXT NOT NULL,
                      UNIQUE (pair_id, annotator));
                    COMMIT;
                    """);
            }

            return store;
        }
        catch (SqliteException ex)
        {
            connection.Dispose();
            throw new IOException($"annotation database '{path}' cannot be opened: {ex.Message}", ex);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Adds the pairs the database does not hold yet (one transaction) and checks that those it holds are the same
    /// (a pair's identity is its index in the file, so a changed file would relabel old judgements).
    /// </summary>
    /// <exception cref="UserInputException">A stored pair differs from the file's pair with the same id.</exception>
    public void AddPairs(IReadOnlyList<AnnotationPair> pairs, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var existing = Pairs().ToDictionary(p => p.Id);
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using var cmd = _connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO pairs VALUES ($id, $prompt, $p1, $p2, $m1, $m2)";
            var id = cmd.Parameters.Add("$id", SqliteType.Integer);
            var prompt = cmd.Parameters.Add("$prompt", SqliteType.Text);
            var p1 = cmd.Parameters.Add("$p1", SqliteType.Text);
            var p2 = cmd.Parameters.Add("$p2", SqliteType.Text);
            var m1 = cmd.Parameters.Add("$m1", SqliteType.Text);
            var m2 = cmd.Parameters.Add("$m2", SqliteType.Text);
            foreach (var p in pairs)
            {
                if (existing.TryGetValue(p.Id, out var old))
                {
                    if (old != p)
                    {
                        throw UserInputException.ForInput(sourceName,
                            $"{Describe(p.Id)} differs from the one stored in {Path} (stored: '{old.Path1}' vs '{old.Path2}', \"{Shorten(old.Prompt)}\"); a pair is identified by its position in the file, so use a new {new OptionField(nameof(AnnotationAppOptions.Database))} for a changed file");
                    }

                    continue;
                }

                id.Value = p.Id;
                prompt.Value = p.Prompt;
                p1.Value = p.Path1;
                p2.Value = p.Path2;
                m1.Value = (object?)p.Model1 ?? DBNull.Value;
                m2.Value = (object?)p.Model2 ?? DBNull.Value;
                cmd.ExecuteNonQuery();
            }

            tx.Commit();
        }
    }

    /// <summary>Every stored pair, ordinary pairs by id, then gold pairs (−1, −2, …).</summary>
    public IReadOnlyList<AnnotationPair> Pairs()
    {
        lock (_lock)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT pair_id, prompt, path1, path2, model1, model2 FROM pairs ORDER BY pair_id < 0, abs(pair_id)";
            using var r = cmd.ExecuteReader();
            var list = new List<AnnotationPair>();
            while (r.Read())
            {
                list.Add(new AnnotationPair(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5)));
            }

            return list;
        }
    }

    /// <summary>Every judgement in the order it was stored.</summary>
    public IReadOnlyList<Judgement> Judgements()
    {
        lock (_lock)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT id, pair_id, annotator, choice, left, vote, ms, created_utc FROM judgements ORDER BY id";
            using var r = cmd.ExecuteReader();
            var list = new List<Judgement>();
            while (r.Read())
            {
                list.Add(new Judgement(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetString(4) == "path1", ParseVote(r.GetString(5)), r.GetInt64(6),
                    DateTime.Parse(r.GetString(7), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind)));
            }

            return list;
        }
    }

    /// <summary>
    /// The order <paramref name="pairId"/> is shown in to <paramref name="annotator"/>: drawn once by
    /// <paramref name="draw"/> (true = path1 on the left) and stored, so a reload or a second tab shows the same
    /// order and an answer always refers to what was on screen.
    /// </summary>
    public bool ShowOrder(long pairId, string annotator, Func<bool> draw)
    {
        ArgumentNullException.ThrowIfNull(draw);
        lock (_lock)
        {
            if (ShownLocked(pairId, annotator) is { } existing)
            {
                return existing;
            }

            bool leftIsPath1 = draw();
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "INSERT INTO shown VALUES ($id, $a, $left, $t)";
            cmd.Parameters.AddWithValue("$id", pairId);
            cmd.Parameters.AddWithValue("$a", annotator);
            cmd.Parameters.AddWithValue("$left", leftIsPath1 ? "path1" : "path2");
            cmd.Parameters.AddWithValue("$t", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            cmd.ExecuteNonQuery();
            return leftIsPath1;
        }
    }

    /// <summary>The order the pair was shown in to the annotator (true = path1 left), or null when never shown.</summary>
    public bool? Shown(long pairId, string annotator)
    {
        lock (_lock)
        {
            return ShownLocked(pairId, annotator);
        }
    }

    /// <summary>
    /// Stores a judgement of a pair that was shown to the annotator, in the order it was shown; returns once the
    /// transaction is committed.
    /// </summary>
    /// <exception cref="DuplicateJudgementException">The annotator judged this pair before.</exception>
    /// <exception cref="JudgementRejectedException">The pair was never shown to this annotator.</exception>
    public Judgement Record(long pairId, string annotator, string choice, long ms)
    {
        lock (_lock)
        {
            bool leftIsPath1 = ShownLocked(pairId, annotator) ?? throw new JudgementRejectedException(JudgementRejection.NotShown, $"pair {pairId} was not shown to annotator '{annotator}'");
            var vote = VoteOf(choice, leftIsPath1);
            var now = DateTime.UtcNow;
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "INSERT INTO judgements (pair_id, annotator, choice, left, vote, ms, created_utc) VALUES ($id, $a, $c, $left, $v, $ms, $t) RETURNING id";
            cmd.Parameters.AddWithValue("$id", pairId);
            cmd.Parameters.AddWithValue("$a", annotator);
            cmd.Parameters.AddWithValue("$c", choice);
            cmd.Parameters.AddWithValue("$left", leftIsPath1 ? "path1" : "path2");
            cmd.Parameters.AddWithValue("$v", VoteName(vote));
            cmd.Parameters.AddWithValue("$ms", ms);
            cmd.Parameters.AddWithValue("$t", now.ToString("O", CultureInfo.InvariantCulture));
            try
            {
                long id = (long)cmd.ExecuteScalar()!;
                return new Judgement(id, pairId, annotator, choice, leftIsPath1, vote, ms, now);
            }
            catch (SqliteException ex) when (ex.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */ && ex.Message.Contains("UNIQUE", StringComparison.Ordinal))
            {
                throw new DuplicateJudgementException(pairId, annotator);
            }
        }
    }

    /// <summary>The choice a page sends, turned into a vote about path1/path2 given the order shown.</summary>
    public static Vote VoteOf(string choice, bool leftIsPath1) => choice switch
    {
        "left" => leftIsPath1 ? Vote.Path1 : Vote.Path2,
        "right" => leftIsPath1 ? Vote.Path2 : Vote.Path1,
        "tie" => Vote.Tie,
        "skip" => Vote.Skip,
        _ => throw new ArgumentException($"choice must be left, right, tie or skip, not '{choice}'", nameof(choice)),
    };

    /// <summary>"path1", "path2", "tie" or "skip".</summary>
    public static string VoteName(Vote vote) => vote switch
    {
        Vote.Path1 => "path1",
        Vote.Path2 => "path2",
        Vote.Tie => "tie",
        _ => "skip",
    };

    /// <summary>How a pair id is named in messages.</summary>
    public static string Describe(long pairId) => pairId < 0
        ? string.Create(CultureInfo.InvariantCulture, $"gold pair {pairId} (gold file record {-pairId - 1})")
        : string.Create(CultureInfo.InvariantCulture, $"pair {pairId}");

    public void Dispose() => _connection.Dispose();

    private static Vote ParseVote(string s) => s switch
    {
        "path1" => Vote.Path1,
        "path2" => Vote.Path2,
        "tie" => Vote.Tie,
        _ => Vote.Skip,
    };

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..57] + "...";

    private bool? ShownLocked(long pairId, string annotator)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = "SELECT left FROM shown WHERE pair_id = $id AND annotator = $a";
        cmd.Parameters.AddWithValue("$id", pairId);
        cmd.Parameters.AddWithValue("$a", annotator);
        return cmd.ExecuteScalar() is string s ? s == "path1" : null;
    }

    private void Execute(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private object? Scalar(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }
}
