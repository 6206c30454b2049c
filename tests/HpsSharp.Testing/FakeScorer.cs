using System.Security.Cryptography;
using System.Text;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Testing;

/// <summary>
/// A deterministic <see cref="IScorer"/> for tests of everything built on the scoring seam. By default μ is derived
/// from a hash of the prompt and the image bytes (stable across runs), log σ = 0. A custom function can set the
/// score per request, and a request whose function throws becomes a per-item error (as a bad image would).
/// </summary>
public sealed class FakeScorer : IScorer
{
    private readonly Func<ScoreRequest, Score> _score;
    private int _calls;
    private int _items;

    public FakeScorer(Func<ScoreRequest, Score>? score = null, string name = "fake scorer")
    {
        _score = score ?? HashScore;
        Model = new ModelInfo(name, "fake-" + name.GetHashCode(StringComparison.Ordinal).ToString("x8", System.Globalization.CultureInfo.InvariantCulture), false, "fp32", 200704, 200704);
    }

    public ModelInfo Model { get; }

    /// <summary>Delay added to each ScoreAsync call (to test cancellation, queues and timeouts).</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Whether progress reports carry each finished result (as HpsScorer does per batch; default true).</summary>
    public bool ReportsFinished { get; set; } = true;

    /// <summary>Number of ScoreAsync calls so far.</summary>
    public int Calls => _calls;

    /// <summary>Number of items scored so far.</summary>
    public int Items => _items;

    /// <summary>Sizes of the batches received, in call order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<int> BatchSizes { get; } = new();

    public async Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        Interlocked.Increment(ref _calls);
        BatchSizes.Enqueue(requests.Count);
        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay, cancellationToken).ConfigureAwait(false);
        }

        var results = new ScoreResult[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                results[i] = ScoreResult.Success(requests[i], _score(requests[i]));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                results[i] = ScoreResult.Failure(requests[i], ex.Message);
            }

            Interlocked.Increment(ref _items);
            progress?.Report(new ScoreProgress(i + 1, requests.Count) { Finished = ReportsFinished ? [results[i]] : null });
        }

        return results;
    }

    /// <summary>The bytes that identify an image input (file contents, encoded bytes or raw RGB).</summary>
    public static byte[] ImageBytes(ImageInput image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Path is not null)
        {
            return File.ReadAllBytes(image.Path);
        }

        return (image.Bytes ?? image.Rgb)!.Value.ToArray();
    }

    /// <summary>μ in [−5, 5) from SHA-256 of prompt and image bytes; log σ = 0.</summary>
    public static Score HashScore(ScoreRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var bytes = ImageBytes(request.Image);
        if (bytes.Length == 0)
        {
            throw new InvalidDataException($"image '{request.Image.Name}' is empty");
        }

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes(request.Prompt));
        sha.AppendData(bytes);
        var h = sha.GetHashAndReset();
        double u = BitConverter.ToUInt32(h, 0) / (double)uint.MaxValue;
        return new Score(u * 10 - 5, 0);
    }

    public void Dispose()
    {
    }
}
