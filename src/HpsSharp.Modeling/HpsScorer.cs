using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text;
using HpsSharp.Modeling.Scoring;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling;

/// <summary>
/// The HPSv3 scorer: loads a model folder once, then scores (prompt, image) pairs — image as a path, encoded bytes
/// or raw RGB — returning μ and log σ per item in input order. Thread-safe: concurrent callers share the model one
/// forward pass at a time. Inside a call, items are preprocessed a window at a time, sorted by token length and cut
/// into batches of <see cref="HpsScorerOptions.BatchSize"/> to cut padding; cancellation is checked between batches.
/// P(A≻B) and ranking come from <see cref="ScorerExtensions.CompareAsync"/> / <see cref="ScorerExtensions.RankAsync"/>.
/// </summary>
public sealed partial class HpsScorer : IScorer
{
    /// <summary>Items preprocessed (and held in memory) at once, as a multiple of the batch size.</summary>
    private const int WindowBatches = 16;

    private readonly Hpsv3Model _model;
    private readonly IScoringPreprocessor _preprocessor;
    private readonly int _batchSize;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private int _disposed;

    internal HpsScorer(Hpsv3Model model, IScoringPreprocessor preprocessor, int batchSize, ModelInfo info, ILogger? logger)
    {
        _model = model;
        _preprocessor = preprocessor;
        _batchSize = batchSize;
        _logger = logger ?? NullLogger.Instance;
        Model = info;
    }

    /// <inheritdoc/>
    public ModelInfo Model { get; }

    /// <summary>
    /// Loads a model folder (<c>config.json</c>, weights, and tokenizer files unless
    /// <see cref="HpsScorerOptions.TokenizerDir"/> names another folder) once for many calls.
    /// </summary>
    /// <exception cref="ModelLoadException">the checkpoint does not fit the configuration.</exception>
    /// <exception cref="HpsException">a missing or malformed config, tokenizer or option.</exception>
    public static HpsScorer Load(string modelDir, HpsScorerOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDir);
        options ??= new HpsScorerOptions();
        options.Validate();
        var loadOptions = new ModelLoadOptions(options.Dtype, options.Device);
        var folder = Directory.Exists(modelDir) ? modelDir : Path.GetDirectoryName(Path.GetFullPath(modelDir)) ?? ".";
        var tokenizer = Qwen2Tokenizer.FromDirectory(options.TokenizerDir ?? folder);
        var images = new Qwen2VLImageProcessor(
            new ImageProcessorOptions(options.MinPixels, options.MaxPixels),
            loggerFactory?.CreateLogger<Qwen2VLImageProcessor>());
        var model = Hpsv3Model.Load(modelDir, loadOptions);
        try
        {
            var info = Describe(modelDir, model, options.Device, options.Dtype, options.MinPixels, options.MaxPixels, options.WeightDigestMemo);
            int batchSize = options.BatchSize;
            if (batchSize == 0)
            {
                var device = model.Device;
                long? free = device.type == DeviceType.CUDA ? CudaMemory.TryGetInfo((int)Math.Max(0, device.index))?.Free : null;
                batchSize = AutoBatchSize(model.Config, options.Dtype, options.MaxPixels, free);
            }

            return new HpsScorer(model, new Hpsv3Preprocessor(tokenizer, images), batchSize, info, loggerFactory?.CreateLogger<HpsScorer>());
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Items per forward pass (resolved when <see cref="HpsScorerOptions.BatchSize"/> was 0).</summary>
    public int BatchSize => _batchSize;

    /// <summary>Headroom left free on the device for libtorch's workspace and fragmentation.</summary>
    internal const long DeviceHeadroomBytes = 1L << 30;

    /// <summary>
    /// The batch size for <paramref name="freeDeviceBytes"/> left on the device after loading: the free memory minus
    /// 1 GiB over twice the activations of one item at the largest image (<paramref name="maxPixels"/>; decoder:
    /// tokens × (4·hidden + 3·ffn), vision: patches × (8·width + 2·mlp), in the model dtype), between 1 and 64.
    /// Without a device figure (the CPU, or no CUDA runtime to ask) it is 4, the default batch size.
    /// </summary>
    public static int AutoBatchSize(Qwen2VLConfig config, Precision dtype, int maxPixels, long? freeDeviceBytes)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (freeDeviceBytes is not { } free)
        {
            return 4;
        }

        int element = dtype == Precision.Bf16 ? 2 : 4;
        var v = config.VisionConfig;
        long patches = Math.Max(4, maxPixels / (v.PatchSize * v.PatchSize));
        long tokens = (patches / (v.SpatialMergeSize * v.SpatialMergeSize)) + 80;   // image tokens + template and prompt
        long perItem = 2L * element * ((tokens * ((4L * config.HiddenSize) + (3L * config.IntermediateSize)))
            + (patches * ((8L * v.EmbedDim) + (2L * v.EmbedDim * v.MlpRatio))));
        long usable = free - DeviceHeadroomBytes;
        return (int)Math.Clamp(usable / perItem, 1, 64);
    }

    /// <summary>The underlying TorchSharp module (for training or inspection; do not dispose it separately).</summary>
    public Hpsv3Model Network => _model;

    /// <inheritdoc/>
    public async Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        for (int i = 0; i < requests.Count; i++)
        {
            if (requests[i] is null || requests[i].Prompt is null || requests[i].Image is null)
            {
                throw new ArgumentException($"request {i} is null or has no prompt/image", nameof(requests));
            }
        }

        var results = new ScoreResult[requests.Count];
        int done = 0;
        int window = _batchSize * WindowBatches;
        Task<List<(int Index, PreparedItem Item)>> StartPrepare(int start) =>
            Task.Run(() => Prepare(requests, start, Math.Min(window, requests.Count - start), results, cancellationToken), cancellationToken);

        // The next window is decoded and resized on the CPU while this window's batches run the model (on a GPU the
        // forward no longer waits for preprocessing; on the CPU the two share the cores).
        var next = requests.Count > 0 ? StartPrepare(0) : null;
        try
        {
            for (int start = 0; start < requests.Count; start += window)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int count = Math.Min(window, requests.Count - start);
                var prepared = await next!.ConfigureAwait(false);
                next = start + window < requests.Count ? StartPrepare(start + window) : null;
                int failed = count - prepared.Count;
                if (failed > 0)
                {
                    done += failed;
                    var failures = results.Skip(start).Take(count).Where(r => r is not null).ToArray();
                    progress?.Report(new ScoreProgress(done, requests.Count) { Finished = failures });
                }

                // Sorted by length, so a batch pads to about its own length (results go back by index).
                prepared.Sort((a, b) => a.Item.UsedLength != b.Item.UsedLength ? a.Item.UsedLength.CompareTo(b.Item.UsedLength) : a.Index.CompareTo(b.Index));
                for (int b = 0; b < prepared.Count; b += _batchSize)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var chunk = prepared.GetRange(b, Math.Min(_batchSize, prepared.Count - b));
                    await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                    Score[] scores;
                    try
                    {
                        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
                        scores = await Task.Run(() => RunBatch(chunk.Select(c => c.Item).ToList()), CancellationToken.None).ConfigureAwait(false);
                    }
                    finally
                    {
                        _gate.Release();
                    }

                    var finished = new ScoreResult[chunk.Count];
                    for (int k = 0; k < chunk.Count; k++)
                    {
                        var request = requests[chunk[k].Index];
                        var score = scores[k];

                        // A diverged or corrupt checkpoint can give NaN or ±∞: an error for that item, never a number.
                        finished[k] = double.IsFinite(score.Mu) && double.IsFinite(score.LogSigma)
                            ? ScoreResult.Success(request, score)
                            : ScoreResult.Failure(request, string.Create(CultureInfo.InvariantCulture, $"the model returned a non-finite score (μ = {score.Mu}, log σ = {score.LogSigma})"));
                        results[chunk[k].Index] = finished[k];
                    }

                    done += chunk.Count;
                    progress?.Report(new ScoreProgress(done, requests.Count) { Finished = finished });
                }
            }
        }
        finally
        {
            if (next is not null)
            {
                // A batch failed or was cancelled: let the look-ahead finish so nothing runs after the call returns.
                await next.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            }
        }

        return results;
    }

    private List<(int Index, PreparedItem Item)> Prepare(IReadOnlyList<ScoreRequest> requests, int start, int count, ScoreResult[] results, CancellationToken cancellationToken)
    {
        var prepared = new (int, PreparedItem)?[count];
        var options = new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) };
        try
        {
            PrepareAll(requests, start, count, results, prepared, options);
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count >= 1)
        {
            // Parallel.For wraps what a worker threw: surface the first error itself, as a sequential loop would.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
        }

        return prepared.Where(p => p is not null).Select(p => p!.Value).ToList();
    }

    private void PrepareAll(IReadOnlyList<ScoreRequest> requests, int start, int count, ScoreResult[] results, (int, PreparedItem)?[] prepared, ParallelOptions options)
    {
        Parallel.For(0, count, options, k =>
        {
            int i = start + k;
            try
            {
                prepared[k] = (i, _preprocessor.Prepare(requests[i]));
            }
            // Only what is the item's own fault becomes a per-item error: an image that cannot be decoded or read
            // (the decoder reports I/O errors as ImageDecodeException too), a path outside the image root, a prompt
            // the template refuses. Anything else is a bug and must surface, not pass as bad data.
            catch (Exception ex) when (IsItemFault(ex))
            {
                LogItemFailed(_logger, requests[i].Image.Name, ex.Message);
                results[i] = ScoreResult.Failure(requests[i], ex.Message);
            }
        });
    }

    /// <summary>Errors that are one item's own fault (its image or its prompt), reported per item instead of failing the batch.</summary>
    internal static bool IsItemFault(Exception ex) =>
        ex is ImageDecodeException or Core.Data.ImagePathException or UserInputException { Input: Hpsv3Prompt.PromptInput };

    private Score[] RunBatch(IReadOnlyList<PreparedItem> items)
    {
        var watch = Stopwatch.StartNew();
        int b = items.Count;
        int length = items.Max(i => i.UsedLength);
        var ids = new long[b * length];
        var mask = new long[b * length];
        var reward = new long[b];
        var grid = new long[b * 3];
        long rows = items.Sum(i => (long)i.PixelValues.Length / Hpsv3Constants.PatchElements);
        var pixels = new float[rows * Hpsv3Constants.PatchElements];
        long offset = 0;
        Array.Fill(ids, Hpsv3Constants.PadTokenId);
        for (int r = 0; r < b; r++)
        {
            var item = items[r];
            for (int j = 0; j < item.UsedLength; j++)
            {
                ids[(r * length) + j] = item.InputIds[j];
                mask[(r * length) + j] = 1;
            }

            reward[r] = item.RewardIndex;
            grid[r * 3] = item.GridT;
            grid[(r * 3) + 1] = item.GridH;
            grid[(r * 3) + 2] = item.GridW;
            item.PixelValues.CopyTo(pixels, offset);
            offset += item.PixelValues.Length;
        }

        using var inference = inference_mode();
        using var scope = NewDisposeScope();
        using var batch = new Hpsv3Batch(
            tensor(ids, [b, length]),
            tensor(mask, [b, length]),
            tensor(pixels, [rows, Hpsv3Constants.PatchElements]),
            tensor(grid, [b, 3]),
            tensor(reward, [b]));
        var output = _model.forward(batch).cpu().data<float>().ToArray();
        var scores = new Score[b];
        for (int r = 0; r < b; r++)
        {
            scores[r] = new Score(output[2 * r], output[(2 * r) + 1]);
        }

        LogBatch(_logger, b, length, watch.Elapsed.TotalMilliseconds);
        return scores;
    }

    /// <summary>Waits for a running batch, then frees the model.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _gate.Wait();
        try
        {
            _model.Dispose();
        }
        finally
        {
            _gate.Release();
            _gate.Dispose();
        }
    }

    /// <summary>
    /// Identity of the weights and settings: SHA-256 over the scorer kind, config.json, the SHA-256 of each weight
    /// file's bytes (remembered per file version by <see cref="WeightDigest"/>, so a large checkpoint is hashed once),
    /// the device, the dtype and the pixel budget (hex, 32 characters). Two checkpoints of one training run share
    /// their header but not their bytes, so they never share a fingerprint.
    /// </summary>
    internal static string Fingerprint(string? configPath, IReadOnlyList<string> weightFiles, DeviceSpec device, Precision dtype, int minPixels, int maxPixels, string? memo = null)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("hpsv3|"u8);
        if (configPath is not null && File.Exists(configPath))
        {
            hash.AppendData(File.ReadAllBytes(configPath));
        }

        foreach (var path in weightFiles)
        {
            hash.AppendData(Encoding.UTF8.GetBytes("|" + WeightDigest.Sha256(path, memo)));
        }

        hash.AppendData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"|{device}|{dtype.Name()}|{minPixels}|{maxPixels}")));
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..32];
    }

    /// <summary>What the loaded model is, saying plainly when it is not the released HPSv3.</summary>
    internal static ModelInfo Describe(string modelDir, Hpsv3Model model, DeviceSpec device, Precision dtype, int minPixels, int maxPixels, string? memo = null)
    {
        var (name, released) = Name(modelDir, model.Config, model.WeightFiles);
        string folder = Directory.Exists(modelDir) ? modelDir : Path.GetDirectoryName(Path.GetFullPath(modelDir)) ?? ".";
        return new ModelInfo(name, Fingerprint(Path.Combine(folder, "config.json"), model.WeightFiles, device, dtype, minPixels, maxPixels, memo), released, dtype.Name(), minPixels, maxPixels)
        {
            Scorer = "hpsv3",
            Device = device.ToString(),
        };
    }

    /// <summary>
    /// The released HPSv3 = the 7B tensor shapes AND a single weight file named <c>HPSv3.safetensors</c>; anything
    /// else is named as what it is, with "not the released HPSv3" in the name.
    /// </summary>
    internal static (string Name, bool Released) Name(string modelDir, Qwen2VLConfig config, IReadOnlyList<string> weightFiles)
    {
        bool sevenB = config.ToDimensions() == Hpsv3Dimensions.Released7B;
        bool releasedName = weightFiles.Count == 1 && Path.GetFileName(weightFiles[0]) == Hpsv3Layout.ReleasedFileName;
        string folder = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDir)));
        if (sevenB && releasedName)
        {
            return ("HPSv3 (MizzenAI/HPSv3)", true);
        }

        return sevenB
            ? ($"{folder}: HPSv3 7B-shaped weights in {string.Join(", ", weightFiles.Select(Path.GetFileName))}, not the released HPSv3 (file is not {Hpsv3Layout.ReleasedFileName})", false)
            : (string.Create(CultureInfo.InvariantCulture, $"{folder}: not the released HPSv3 (hidden {config.HiddenSize}, {config.NumHiddenLayers} layers)"), false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "could not score {Image}: {Reason}")]
    private static partial void LogItemFailed(ILogger logger, string image, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "scored a batch of {Count} (length {Length}) in {Milliseconds:F0} ms")]
    private static partial void LogBatch(ILogger logger, int count, int length, double milliseconds);
}

/// <summary>Constants of the HPSv3 inputs.</summary>
internal static class Hpsv3Constants
{
    /// <summary>Elements of one patch row (3·2·14·14).</summary>
    public const int PatchElements = ProcessedImage.RowLength;

    /// <summary><c>&lt;|endoftext|&gt;</c>, the pad id of the right-padded batch.</summary>
    public const int PadTokenId = Qwen2Tokens.Pad;
}
