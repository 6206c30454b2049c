using System.Globalization;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using Microsoft.AspNetCore.Http;

namespace HpsSharp.Server;

/// <summary>
/// <c>/v1/score</c> with <c>"scorers": [..]</c> or <c>"rewards": {name: weight}</c>: every named scorer scores every
/// item (the primary through the queue, the others directly, all at once), each result carries one entry per scorer
/// under <c>"scorers"</c>, its top-level <c>"score"</c>/<c>"scorer"</c> are the first named scorer's, and with
/// <c>"rewards"</c> <c>"reward"</c> is the weighted sum — of percentiles when every scorer in the mix has a
/// calibration, else of raw scores; the request may choose with <c>"reward": "percentile" | "score"</c>.
/// </summary>
internal static class MultiScorer
{
    public static async Task<ScoreResponseDto> ScoreAsync(HttpContext ctx, ScoringQueue queue, RewardServiceOptions options, ParsedScoreBody body)
    {
        var loaded = queue.Scorer ?? throw new RequestRejectedException(503, "not ready",
            queue.LoadError is null ? "the model is loading or the service is stopping" : "the model failed to load");
        var set = loaded as ScorerSet;
        var hosted = set?.Names ?? [loaded.Model.Scorer];
        var names = body.Scorers!;
        var unknown = names.FirstOrDefault(n => !hosted.Contains(n, StringComparer.Ordinal));
        if (unknown is not null)
        {
            throw new RequestRejectedException(400, "unknown scorer",
                // The host's own options (hps serve's --scorers and --model-for) are fields to this library.
                options.Advise($"this service hosts {string.Join(", ", hosted)}; it has no scorer '{unknown}' (start it with {new OptionField("Scorers")} ... {new OptionField("ModelFor")} {unknown}=DIR)"));
        }

        if (body.Items.Any(i => i.Video is not null))
        {
            throw new RequestRejectedException(400, "bad request", "video items are scored by the primary scorer only; leave out \"scorers\" and \"rewards\" for them");
        }

        if (body.GroupNormalize)
        {
            throw new RequestRejectedException(400, "bad request", "\"normalize\": \"group\" works with one scorer; leave out \"scorers\" and \"rewards\" for it");
        }

        bool percentile = MixUsesPercentiles(body, names, options, hosted[0]);

        // All scorers at once: the primary's items join the queue's batches while the others run on their own.
        var tasks = names.Select(n => n == hosted[0]
            ? RunPrimaryAsync(ctx, queue, options, body.Items)
            : RunDirectAsync(set!.Get(n)!, n, body.Items, ctx.RequestAborted)).ToArray();
        var perScorer = await Task.WhenAll(tasks).ConfigureAwait(false);

        var results = new ItemResultDto[body.Items.Count];
        for (int i = 0; i < results.Length; i++)
        {
            if (body.Items[i].Request is null)
            {
                results[i] = ItemResultDto.Failed(body.Items[i].Error!, 400);
                continue;
            }

            var entries = new Dictionary<string, ScorerEntryDto>(StringComparer.Ordinal);
            double sum = 0;
            string? failed = null;
            for (int k = 0; k < names.Count; k++)
            {
                var r = perScorer[k][i];
                double? weight = body.Weights?[names[k]];
                var cal = CalibrationOf(names[k], hosted[0], options);
                double? pct = r.Score is { } v && cal is not null ? cal.Percentile(v) : null;
                entries[names[k]] = new ScorerEntryDto(r.Score, r.Mu, r.LogSigma, r.Sigma, pct, weight, r.Error);
                if (r.Score is null)
                {
                    failed ??= r.Error;
                }
                else if (weight is { } w)
                {
                    sum += w * (percentile ? pct!.Value : r.Score.Value);
                }
            }

            var first = perScorer[0][i];
            results[i] = failed is not null
                ? ItemResultDto.Failed(failed, 422) with { Scorer = names[0], Scorers = entries }
                : first with
                {
                    Percentile = entries[names[0]].Percentile,
                    Reward = body.Weights is null ? null : sum,
                    Scorers = entries,
                };
        }

        var models = set?.Models ?? [loaded.Model];
        var model = ModelRecord.From(models[0]) with { Hosted = models.Count > 1 ? [.. models.Select(ModelRecord.From)] : null };
        return new ScoreResponseDto(model, results);
    }

    /// <summary>
    /// Whether the mix sums percentiles: as the request says (<c>"reward": "percentile"</c> needs every scorer's
    /// calibration; <c>"score"</c> or <c>"mu"</c> sums raw scores), else percentiles exactly when all are calibrated.
    /// </summary>
    private static bool MixUsesPercentiles(ParsedScoreBody body, IReadOnlyList<string> names, RewardServiceOptions options, string primary)
    {
        var missing = names.FirstOrDefault(n => CalibrationOf(n, primary, options) is null);
        switch (body.Reward.Name)
        {
            case null:
                return missing is null;
            case "percentile":
                if (body.Weights is not null && missing is not null)
                {
                    throw new RequestRejectedException(400, "no calibration",
                        options.Advise($"\"reward\": \"percentile\" needs a calibration for every scorer in \"rewards\"; '{missing}' has none (start the service with {new OptionField(nameof(RewardServiceOptions.Calibrations))} {missing}=calib.json)"));
                }

                return body.Weights is not null;
            case "score" or "mu":
                return false;
            default:
                throw new RequestRejectedException(400, "bad request",
                    $"with \"scorers\" or \"rewards\", \"reward\" must be \"percentile\" or \"score\", not '{body.Reward.Name}'");
        }
    }

    private static Calibration? CalibrationOf(string name, string primary, RewardServiceOptions options) =>
        options.Calibrations.TryGetValue(name, out var c) ? c : name == primary ? options.Calibration : null;

    private static async Task<IReadOnlyList<ItemResultDto>> RunPrimaryAsync(HttpContext ctx, ScoringQueue queue, RewardServiceOptions options, IReadOnlyList<ParsedItem> items) =>
        (await ScoringEndpoints.RunAsync(ctx, queue, options, items).ConfigureAwait(false)).Results;

    private static async Task<IReadOnlyList<ItemResultDto>> RunDirectAsync(IScorer scorer, string name, IReadOnlyList<ParsedItem> items, CancellationToken ct)
    {
        var valid = items.Where(i => i.Request is not null).Select(i => i.Request!).ToList();
        var scored = valid.Count > 0 ? await scorer.ScoreAsync(valid, null, ct).ConfigureAwait(false) : [];
        var results = new ItemResultDto[items.Count];
        int t = 0;
        for (int i = 0; i < items.Count; i++)
        {
            results[i] = items[i].Request is null
                ? ItemResultDto.Failed(items[i].Error!, 400)
                : ScoringEndpoints.ToDto(scored[t++], name);
        }

        return results;
    }

    /// <summary>Invariant text of a weight, for messages.</summary>
    internal static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);
}
