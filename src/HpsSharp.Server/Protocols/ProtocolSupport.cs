using System.Globalization;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using Microsoft.AspNetCore.Http;

namespace HpsSharp.Server.Protocols;

/// <summary>What the trainer protocols share: bounded body reads and the reward choice.</summary>
internal static class ProtocolSupport
{
    /// <summary>Reads the whole body, refusing (413) anything above <c>max_request_body_bytes</c> before it is buffered.</summary>
    public static async Task<byte[]> ReadBodyAsync(HttpRequest request, RewardServiceOptions options, CancellationToken ct)
    {
        if (request.ContentLength > options.MaxRequestBodyBytes)
        {
            throw TooLarge(options);
        }

        using var ms = new MemoryStream(request.ContentLength is { } n ? (int)Math.Min(n, int.MaxValue) : 64 * 1024);
        var buffer = new byte[81920];
        int read;
        while ((read = await request.Body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            if (ms.Length + read > options.MaxRequestBodyBytes)
            {
                throw TooLarge(options);
            }

            ms.Write(buffer, 0, read);
        }

        return ms.ToArray();
    }

    public static RequestRejectedException TooLarge(RewardServiceOptions options) => new(413, "request body too large",
        $"the body is larger than the limit max_request_body_bytes = {options.MaxRequestBodyBytes}", "max_request_body_bytes", options.MaxRequestBodyBytes);

    public static void CheckItemCount(int count, RewardServiceOptions options)
    {
        if (count > options.MaxItemsPerRequest)
        {
            throw new RequestRejectedException(413, "too many items",
                $"the request has {count} items; the limit max_items is {options.MaxItemsPerRequest}", "max_items", options.MaxItemsPerRequest);
        }

        if (count == 0)
        {
            throw new RequestRejectedException(400, "bad request", "the request has no items");
        }
    }

    /// <summary>
    /// The reward choice from a name and k (from a query string or a JSON body). Unknown names, a negative or
    /// non-finite k, and <c>percentile</c> without a loaded calibration are refused with 400.
    /// </summary>
    public static RewardSelection Selection(string? name, string? k, RewardServiceOptions options)
    {
        double kValue = 1.0;
        if (!string.IsNullOrEmpty(k) && (!double.TryParse(k, NumberStyles.Float, CultureInfo.InvariantCulture, out kValue) || !double.IsFinite(kValue) || kValue < 0))
        {
            throw new RequestRejectedException(400, "bad request", $"\"k\" must be a finite number ≥ 0, not '{k}'");
        }

        return Selection(name, kValue, options);
    }

    /// <inheritdoc cref="Selection(string?, string?, RewardServiceOptions)"/>
    public static RewardSelection Selection(string? name, double k, RewardServiceOptions options)
    {
        if (string.IsNullOrEmpty(name))
        {
            return new RewardSelection(RewardKind.Mu, k);
        }

        var kind = RewardSelection.ParseKind(name)
            ?? throw new RequestRejectedException(400, "bad request", $"\"reward\" must be one of {string.Join(", ", RewardSelection.Names)}, not '{name}'");
        if (!double.IsFinite(k) || k < 0)
        {
            throw new RequestRejectedException(400, "bad request", $"\"k\" must be a finite number ≥ 0, not {k.ToString(CultureInfo.InvariantCulture)}");
        }

        if (kind == RewardKind.Percentile && options.Calibration is null)
        {
            throw new RequestRejectedException(400, "no calibration",
                options.Advise($"\"reward\": \"percentile\" needs a calibration; start the service with {new OptionField(nameof(RewardServiceOptions.Calibration))} calib.json (made by hps calibrate)"));
        }

        return new RewardSelection(kind, k);
    }

    /// <summary>The score of each result (null for failed ones).</summary>
    public static Score?[] Scores(IReadOnlyList<ItemResultDto> results) =>
        [.. results.Select(r => r.Score is { } v ? new Score(v, r.LogSigma ?? double.NaN) : (Score?)null)];

    /// <summary>The selected reward per item, null where the item failed.</summary>
    public static IReadOnlyList<double?> Rewards(RewardSelection selection, IReadOnlyList<ItemResultDto> results, IReadOnlyList<string> prompts, RewardServiceOptions options) =>
        selection.Apply(Scores(results), prompts, options.Calibration);

    /// <summary>
    /// Adds <c>percentile</c> (when a calibration is loaded) and, when the request asked for one, <c>reward</c>
    /// to every scored result.
    /// </summary>
    public static IReadOnlyList<ItemResultDto> Annotate(RewardSelection selection, IReadOnlyList<ItemResultDto> results, IReadOnlyList<string> prompts, RewardServiceOptions options, bool addReward)
    {
        var rewards = addReward ? Rewards(selection, results, prompts, options) : null;
        var output = new ItemResultDto[results.Count];
        for (int i = 0; i < results.Count; i++)
        {
            var r = results[i];
            if (r.Score is { } mu && options.Calibration is { } c)
            {
                r = r with { Percentile = c.Percentile(mu) };
            }

            if (rewards?[i] is { } reward)
            {
                r = r with { Reward = reward };
            }

            output[i] = r;
        }

        return output;
    }
}
