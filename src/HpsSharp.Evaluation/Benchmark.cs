using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using HpsSharp.Core.Data;
using HpsSharp.Core.Metrics;
using HpsSharp.Core.Scoring.Contracts;

namespace HpsSharp.Evaluation;

/// <summary>A model-level human reference: one score per model (higher = preferred).</summary>
public sealed record HumanReference(string Name, IReadOnlyDictionary<string, double> Scores)
{
    /// <summary>
    /// The paper's "Human Annotation" score of ten text-to-image models (docs/evaluation.md#model-ranking-correlation, from
    /// <c>metric_to_humananno.png</c> / <c>benchmark_diff_models.png</c>); its origin is open question O5.
    /// </summary>
    public static HumanReference Paper { get; } = new("HPSv3 paper human annotation (10 models, docs/evaluation.md)", new Dictionary<string, double>(StringComparer.Ordinal)
    {
        ["Playground-v2.5"] = 12.79,
        ["Kolors"] = 12.51,
        ["Flux-dev"] = 11.97,
        ["CogView4"] = 10.79,
        ["Infinity"] = 10.61,
        ["PixArt-Σ"] = 8.72,
        ["Hunyuan"] = 6.79,
        ["SDXL"] = 5.85,
        ["SD3"] = 5.70,
        ["SD2"] = 0.67,
    });

    /// <summary>Reads a reference file: a JSON object <c>{"model name": score, ...}</c>.</summary>
    public static HumanReference Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException ex)
        {
            throw new DatasetFormatException(path, 1 + (ex.LineNumber ?? 0), "malformed JSON: " + ex.Message, ex);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new DatasetFormatException(path, 1, "expected a JSON object {\"model name\": score, ...}");
            }

            var scores = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !double.IsFinite(p.Value.GetDouble()))
                {
                    throw new DatasetFormatException(path, 1, $"the score of '{p.Name}' must be a finite number");
                }

                scores[p.Name] = p.Value.GetDouble();
            }

            return new HumanReference(path, scores);
        }
    }

    /// <summary>
    /// The canonical form used to match folder names with reference names: lower case, letters and digits only,
    /// σ spelt "sigma", and known aliases (HunyuanDiT → Hunyuan, SD3-Medium → SD3, FLUX.1-dev → Flux-dev, ...).
    /// </summary>
    public static string Canonical(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var sb = new StringBuilder();
        foreach (char c in name.ToLowerInvariant().Replace("σ", "sigma", StringComparison.Ordinal))
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                sb.Append(c);
            }
        }

        string s = sb.ToString();
        return s switch
        {
            "hunyuandit" => "hunyuan",
            "sd3medium" or "stablediffusion3medium" or "stablediffusion3" => "sd3",
            "flux1dev" or "flux" => "fluxdev",
            "playground25" or "playgroundv25aesthetic" or "playground" => "playgroundv25",
            "pixartsigmaxl" or "pixartsigma" => "pixartsigma",
            "stablediffusionxl" or "sdxlbase" => "sdxl",
            "sd21" or "sd20" or "stablediffusion2" => "sd2",
            _ => s,
        };
    }
}

/// <summary>One benchmark image: model folder, category, path relative to the root ('/'-separated) and prompt.</summary>
public sealed record BenchmarkImage(string Model, string Category, string RelativePath, string Prompt);

/// <summary>
/// The HPDv3 generation benchmark (docs/evaluation.md#generation-benchmark): images in per-model folders (<c>ROOT/MODEL/[CATEGORY/]x.png</c>)
/// with the prompt in <c>x.txt</c>; per-category mean μ; a model's overall score is the mean of its category means;
/// the overall scores are compared with a human reference by Spearman ρ, Kendall τ-b and normalised MSE.
/// </summary>
public static class BenchmarkRunner
{
    private static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif" };

    /// <summary>Category of images directly inside a model folder.</summary>
    public const string NoCategory = "all";

    /// <summary>
    /// Lists the benchmark images under <paramref name="root"/> in a stable order. The prompt is read as upstream
    /// does (<c>'\n'.join(f.readlines())</c>: line endings kept, so a multi-line file gets doubled newlines).
    /// </summary>
    public static (IReadOnlyList<BenchmarkImage> Images, IReadOnlyList<string> WithoutPrompt) Scan(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"benchmark root '{root}' does not exist");
        }

        var images = new List<BenchmarkImage>();
        var withoutPrompt = new List<string>();
        foreach (var modelDir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            string model = Path.GetFileName(modelDir);
            if (model.StartsWith('.'))
            {
                continue;
            }

            foreach (var file in Directory.EnumerateFiles(modelDir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                if (!ImageExtensions.Contains(Path.GetExtension(file)))
                {
                    continue;
                }

                string rel = Path.GetRelativePath(root, file).Replace('\\', '/');
                string inModel = Path.GetRelativePath(modelDir, file).Replace('\\', '/');
                int slash = inModel.IndexOf('/', StringComparison.Ordinal);
                string category = slash < 0 ? NoCategory : inModel[..slash];
                string txt = Path.ChangeExtension(file, ".txt");
                if (!File.Exists(txt))
                {
                    withoutPrompt.Add(rel);
                    continue;
                }

                images.Add(new BenchmarkImage(model, category, rel, ReadPrompt(txt)));
            }
        }

        return (images, withoutPrompt);
    }

    /// <summary>Python's <c>'\n'.join(open(f).readlines())</c>.</summary>
    public static string ReadPrompt(string txtPath)
    {
        string text = File.ReadAllText(txtPath, Encoding.UTF8).ReplaceLineEndings("\n");
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                lines.Add(text[start..(i + 1)]);
                start = i + 1;
            }
        }

        if (start < text.Length)
        {
            lines.Add(text[start..]);
        }

        return string.Join("\n", lines);
    }

    /// <summary>Scores every image and aggregates per model and category.</summary>
    public static async Task<BenchmarkResult> RunAsync(string root, IScoreSource source, HumanReference? reference = null, int chunkSize = 64, IProgress<EvalProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        reference ??= HumanReference.Paper;
        var (images, withoutPrompt) = Scan(root);
        if (images.Count == 0)
        {
            throw new DirectoryNotFoundException($"benchmark root '{root}' has no images with .txt prompts in model folders (ROOT/MODEL/[CATEGORY/]x.png + x.txt)"
                + (withoutPrompt.Count > 0 ? $"; {withoutPrompt.Count} images have no .txt, e.g. {withoutPrompt[0]}" : ""));
        }

        var sums = new Dictionary<(string Model, string Category), List<double>>();
        var problems = withoutPrompt.Take(10).Select(p => $"no prompt file for {p}").ToList();
        int bad = 0;
        long done = 0;
        foreach (var chunk in images.Chunk(chunkSize))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var scores = await source.GetAsync(chunk.Select(i => (i.Prompt, new ImageRef(i.RelativePath))).ToList(), cancellationToken).ConfigureAwait(false);
            for (int i = 0; i < chunk.Length; i++)
            {
                if (scores[i].Score is { } s)
                {
                    var key = (chunk[i].Model, chunk[i].Category);
                    if (!sums.TryGetValue(key, out var list))
                    {
                        sums[key] = list = [];
                    }

                    list.Add(s.Mu);
                }
                else
                {
                    bad++;
                    if (problems.Count < 20)
                    {
                        problems.Add(scores[i].Error ?? chunk[i].RelativePath);
                    }
                }
            }

            done += chunk.Length;
            progress?.Report(new EvalProgress(done, source.Stats.Scored));
        }

        var models = sums.GroupBy(kv => kv.Key.Model).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g =>
        {
            var cats = g.OrderBy(kv => kv.Key.Category, StringComparer.Ordinal).Select(kv => new CategoryMean(kv.Key.Category, kv.Value.Average(), Std(kv.Value), kv.Value.Count)).ToArray();
            double? human = Match(reference, g.Key);
            return new ModelBenchmark(g.Key, cats.Average(c => c.Mean), cats.Sum(c => c.Images), cats, human);
        }).OrderByDescending(m => m.Overall).ToArray();

        var manifest = string.Join("\n", images.Select(i => $"{i.RelativePath}\t{ScoreKey.HashPrompt(i.Prompt)}"));
        var protocol = new BenchmarkProtocol
        {
            Root = Path.GetFullPath(root),
            Layout = "ROOT/MODEL/[CATEGORY/]IMAGE with the prompt in IMAGE.txt ('\\n'.join(readlines()), as upstream)",
            ManifestSha256 = ScoreKey.HashImage(Encoding.UTF8.GetBytes(manifest)),
            Images = images.Count,
            Aggregation = "per model: mean μ per category; overall = mean of the category means (HPSv3 calculate_category_stats)",
            Reference = reference.Name,
            CorrelationDefinition = "over models matched by name: Spearman ρ (average ranks for ties), Kendall τ-b (tie-corrected; = τ-a without ties), MSE after min-max normalising each vector to [0, 1]",
            Scorer = ScorerDescription.Of(source.Model, source.Description),
            MissingPrompts = withoutPrompt.Count,
            MissingOrFailed = bad,
            Version = Evaluator.Version,
            EvaluatedUtc = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
        };
        return new BenchmarkResult { Protocol = protocol, Models = models, Correlation = Correlate(models.Select(m => (m.Model, m.Overall)), reference), Problems = problems };
    }

    /// <summary>Correlates model-level scores with the reference over the models present in both.</summary>
    public static Correlation Correlate(IEnumerable<(string Model, double Score)> scores, HumanReference reference)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(reference);
        var matched = scores.Select(s => (s.Model, s.Score, Human: Match(reference, s.Model))).Where(t => t.Human is not null).ToArray();
        var names = matched.Select(m => m.Model).ToArray();
        var x = matched.Select(m => m.Score).ToArray();
        var y = matched.Select(m => m.Human!.Value).ToArray();
        int unmatched = reference.Scores.Count - matched.Length;
        string? note = unmatched > 0 ? $"{unmatched} reference model(s) have no matching folder" : null;
        try
        {
            return new Correlation(names, RankCorrelation.Spearman(x, y), RankCorrelation.KendallTauB(x, y), RankCorrelation.NormalizedMse(x, y), note);
        }
        catch (MetricException ex)
        {
            return new Correlation(names, null, null, null, ex.Message + (note is null ? "" : "; " + note));
        }
    }

    private static double? Match(HumanReference reference, string model)
    {
        string c = HumanReference.Canonical(model);
        foreach (var (name, score) in reference.Scores)
        {
            if (HumanReference.Canonical(name) == c)
            {
                return score;
            }
        }

        return null;
    }

    private static double Std(List<double> v)
    {
        double m = v.Average();
        return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / v.Count);
    }
}
