using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Scoring;
using Microsoft.Data.Sqlite;

namespace HpsSharp.Evaluation;

/// <summary>
/// What identifies a score: the model's fingerprint (SHA-256 of its weight files' bytes and config), SHA-256 of the
/// image's bytes, SHA-256 of the prompt's UTF-8, and how it was run (scorer kind, device, dtype, pixel budget and whether it ran one item per forward). Two requests with the same key get the same score, so
/// an image is never scored twice for the same prompt and model.
/// </summary>
public readonly record struct ScoreKey(string Model, string Image, string Prompt, string Preprocess)
{
    /// <summary>The preprocessing part of the key for a model.</summary>
    public static string PreprocessOf(ModelInfo model)
    {
        ArgumentNullException.ThrowIfNull(model);
        // Deterministic scores are keyed apart from batched ones (the batched key is unchanged, so existing caches stay valid).
        return string.Create(CultureInfo.InvariantCulture, $"scorer={model.Scorer};device={model.Device};dtype={model.Dtype};min_pixels={model.MinPixels};max_pixels={model.MaxPixels}")
            + (model.Deterministic ? ";deterministic=1" : string.Empty);
    }

    /// <summary>Lower-case hex SHA-256 of the prompt's UTF-8 bytes.</summary>
    public static string HashPrompt(string prompt) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(prompt)));

    /// <summary>Lower-case hex SHA-256 of image bytes.</summary>
    public static string HashImage(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}

/// <summary>
/// A persistent score cache in SQLite (WAL journal). Scores are written in one transaction per batch as soon as a
/// batch is scored, so a run that is killed keeps every finished batch and a rerun does not score them again.
/// Thread-safe for one process (calls are serialised).
/// </summary>
public sealed class ScoreCache : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    /// <summary>Opens (creating when needed) the cache file at <paramref name="path"/>.</summary>
    public ScoreCache(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(Path);
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }

        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString());
        try
        {
            _connection.Open();
            Execute("PRAGMA journal_mode=WAL;");
            Execute("PRAGMA synchronous=NORMAL;");
            Execute("""
                CREATE TABLE IF NOT EXISTS scores (
                  model TEXT NOT NULL, image_sha256 TEXT NOT NULL, prompt_sha256 TEXT NOT NULL, preprocess TEXT NOT NULL,
                  mu REAL NOT NULL, log_sigma REAL NOT NULL, created_utc TEXT NOT NULL,
                  PRIMARY KEY (model, image_sha256, prompt_sha256, preprocess)) WITHOUT ROWID;
                """);
        }
        catch (SqliteException ex)
        {
            _connection.Dispose();
            throw new IOException($"score cache '{Path}' cannot be opened: {ex.Message}", ex);
        }
    }

    /// <summary>The cache file.</summary>
    public string Path { get; }

    /// <summary>Number of cached scores.</summary>
    public long Count
    {
        get
        {
            lock (_lock)
            {
                using var cmd = _connection.CreateCommand();
                cmd.CommandText = "SELECT COUNT(*) FROM scores";
                return (long)cmd.ExecuteScalar()!;
            }
        }
    }

    /// <summary>The cached scores among <paramref name="keys"/>.</summary>
    public Dictionary<ScoreKey, Score> GetMany(IEnumerable<ScoreKey> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var found = new Dictionary<ScoreKey, Score>();
        lock (_lock)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT mu, log_sigma FROM scores WHERE model = $m AND image_sha256 = $i AND prompt_sha256 = $p AND preprocess = $s";
            var m = cmd.Parameters.Add("$m", SqliteType.Text);
            var i = cmd.Parameters.Add("$i", SqliteType.Text);
            var p = cmd.Parameters.Add("$p", SqliteType.Text);
            var s = cmd.Parameters.Add("$s", SqliteType.Text);
            cmd.Prepare();
            foreach (var key in keys)
            {
                if (found.ContainsKey(key))
                {
                    continue;
                }

                m.Value = key.Model;
                i.Value = key.Image;
                p.Value = key.Prompt;
                s.Value = key.Preprocess;
                using var r = cmd.ExecuteReader();
                if (r.Read())
                {
                    double logSigma = r.GetDouble(1);
                    found[key] = double.IsPositiveInfinity(logSigma) ? Score.Point(r.GetDouble(0)) : new Score(r.GetDouble(0), logSigma);
                }
            }
        }

        return found;
    }

    /// <summary>Stores scores in one transaction (all or none).</summary>
    public void PutMany(IEnumerable<KeyValuePair<ScoreKey, Score>> scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using var cmd = _connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT OR REPLACE INTO scores VALUES ($m, $i, $p, $s, $mu, $ls, $t)";
            var m = cmd.Parameters.Add("$m", SqliteType.Text);
            var i = cmd.Parameters.Add("$i", SqliteType.Text);
            var p = cmd.Parameters.Add("$p", SqliteType.Text);
            var s = cmd.Parameters.Add("$s", SqliteType.Text);
            var mu = cmd.Parameters.Add("$mu", SqliteType.Real);
            var ls = cmd.Parameters.Add("$ls", SqliteType.Real);
            var t = cmd.Parameters.Add("$t", SqliteType.Text);
            string now = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);
            foreach (var (key, score) in scores)
            {
                m.Value = key.Model;
                i.Value = key.Image;
                p.Value = key.Prompt;
                s.Value = key.Preprocess;
                mu.Value = score.Mu;
                // A point score (no σ: the baseline scorers) is stored as log σ = +∞, which no HPSv3 output is
                // (they are checked finite); SQLite would turn NaN into NULL, which the column refuses.
                ls.Value = score.HasUncertainty ? score.LogSigma : double.PositiveInfinity;
                t.Value = now;
                cmd.ExecuteNonQuery();
            }

            tx.Commit();
        }
    }

    /// <summary>The default cache file: <c>scores.sqlite</c> in <see cref="HpsCacheDirectory.Resolve"/> (<c>$HPS_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/hpssharp</c>, else <c>~/.cache/hpssharp</c>).</summary>
    public static string DefaultPath() => System.IO.Path.Combine(HpsCacheDirectory.Resolve(), "scores.sqlite");

    public void Dispose() => _connection.Dispose();

    private void Execute(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
