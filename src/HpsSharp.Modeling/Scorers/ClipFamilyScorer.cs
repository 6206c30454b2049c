using HpsSharp.Core;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text.Clip;
using HpsSharp.Modeling.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Scorers;

/// <summary>
/// The shared <see cref="IScorer"/> plumbing of the CLIP-family scorers: images are decoded one by one (an
/// undecodable image fails only its own item), the rest is scored in batches under one lock (TorchSharp modules are
/// not re-entrant), in input order, without gradients; the modules are disposed with the scorer. A scorer adds only
/// its <see cref="Forward"/>: its inputs, its modules and its score.
/// </summary>
public abstract class ClipFamilyScorer : IScorer
{
    private readonly object _gate = new();
    private readonly IDisposable[] _modules;
    private bool _disposed;

    /// <summary>A scorer of <paramref name="model"/> that owns (and disposes) <paramref name="modules"/>.</summary>
    private protected ClipFamilyScorer(ModelInfo model, params IDisposable[] modules)
    {
        Model = model;
        _modules = modules;
    }

    /// <summary>Pairs per forward pass.</summary>
    public int BatchSize { get; private set; } = 8;

    /// <summary>Sets <see cref="BatchSize"/> (at least 1) and returns this scorer.</summary>
    public ClipFamilyScorer WithBatchSize(int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        BatchSize = batchSize;
        return this;
    }

    /// <inheritdoc/>
    public ModelInfo Model { get; }

    /// <inheritdoc/>
    public Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Task.Run<IReadOnlyList<ScoreResult>>(() =>
        {
            var results = new ScoreResult?[requests.Count];
            var ok = new List<(int Index, RgbImage Image)>();
            int done = 0;
            for (int i = 0; i < requests.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    ok.Add((i, ImageDecoder.Decode(requests[i].Image)));
                }
                catch (Exception ex) when (HpsScorer.IsItemFault(ex))
                {
                    // Only the image's own fault (undecodable, unreadable, outside the root) is a per-item error.
                    results[i] = ScoreResult.Failure(requests[i], ex.Message);
                    progress?.Report(new ScoreProgress(++done, requests.Count));
                }
            }

            for (int start = 0; start < ok.Count; start += BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var chunk = ok.Skip(start).Take(BatchSize).ToList();
                float[] scores;
                lock (_gate)
                {
                    scores = Compute(chunk.Select(c => requests[c.Index].Prompt).ToList(), chunk.Select(c => c.Image).ToList(), null);
                }

                for (int k = 0; k < chunk.Count; k++)
                {
                    var req = requests[chunk[k].Index];
                    results[chunk[k].Index] = float.IsFinite(scores[k])
                        ? ScoreResult.Success(req, Score.Point(scores[k]))
                        : ScoreResult.Failure(req, $"the model returned a non-finite score for '{req.Image.Name}'");
                    progress?.Report(new ScoreProgress(++done, requests.Count));
                }
            }

            return results.Select(r => r!).ToList();
        }, cancellationToken);
    }

    /// <summary>Scores prompt i against image i; <paramref name="trace"/> collects intermediates named like the goldens.</summary>
    internal float[] Compute(IReadOnlyList<string> prompts, IReadOnlyList<RgbImage> images, ForwardTrace? trace)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return Forward(prompts, images, trace).data<float>().ToArray();
    }

    /// <summary>The scores of one batch, shape [B] (inside a dispose scope, without gradients).</summary>
    internal abstract Tensor Forward(IReadOnlyList<string> prompts, IReadOnlyList<RgbImage> images, ForwardTrace? trace);

    /// <summary>Stacks per-image [3, S, S] pixel arrays into [B, 3, S, S].</summary>
    internal static Tensor StackPixels(IEnumerable<float[]> pixels, int size)
    {
        var list = pixels.ToList();
        var all = new float[list.Count * 3 * size * size];
        for (int i = 0; i < list.Count; i++)
        {
            list[i].CopyTo(all, i * 3 * size * size);
        }

        return tensor(all, [list.Count, 3, size, size]);
    }

    /// <summary>HF batch padding: ids right-padded with <paramref name="pad"/> to the longest, and the attention mask.</summary>
    internal static (Tensor Ids, Tensor Mask) PadBatch(IReadOnlyList<int[]> ids, int pad)
    {
        int l = ids.Max(x => x.Length);
        var flat = new long[ids.Count * l];
        var mask = new long[ids.Count * l];
        for (int i = 0; i < ids.Count; i++)
        {
            for (int j = 0; j < l; j++)
            {
                bool real = j < ids[i].Length;
                flat[(i * l) + j] = real ? ids[i][j] : pad;
                mask[(i * l) + j] = real ? 1 : 0;
            }
        }

        return (tensor(flat, [ids.Count, l]), tensor(mask, [ids.Count, l]));
    }

    /// <summary>
    /// A fingerprint of the files a scorer loads — by content, through the same memoised <see cref="WeightDigest"/> as
    /// HPSv3's (two checkpoints of one run never share it) — and its settings.
    /// </summary>
    internal static string Fingerprint(string scorer, IEnumerable<string> files, string settings)
    {
        var text = scorer + "|" + settings + "|" + string.Join("|", files.Select(f => $"{Path.GetFileName(f)}:{WeightDigest.Sha256(f)}"));
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..16];
    }

    /// <summary>
    /// The HF CLIP inputs (PickScore, CLIPScore): HF image processor pixels and fast-tokenizer ids padded with EOT;
    /// the causal mask alone suffices, as padding sits after the EOT and never reaches the pooled state.
    /// </summary>
    internal static (Tensor Pixels, Tensor Ids) HuggingFaceInputs(ClipModel model, ClipTokenizer tokenizer, IEnumerable<string> texts, IReadOnlyList<RgbImage> images, ForwardTrace? trace)
    {
        int size = model.Config.ImageSize;
        var pixels = StackPixels(images.Select(i => ClipImageProcessor.Preprocess(i, size, ClipPipeline.HuggingFace)), size);
        trace?.Add("pixel_values", pixels);
        var (ids, mask) = PadBatch(texts.Select(t => tokenizer.Encode(t, ClipTokenizerFlavor.HuggingFaceFast, model.Config.ContextLength)).ToList(), ClipTokenizer.EotId);
        trace?.Add("input_ids", ids);
        trace?.Add("attention_mask", mask);
        return (pixels, ids);
    }

    /// <summary>Cosine of the normalised image and text embeddings, one per item (intermediates traced as the goldens name them).</summary>
    internal static Tensor Cosine(ClipModel model, Tensor pixels, Tensor ids, ForwardTrace? trace)
    {
        var img = ClipModel.Normalize(model.vision.Forward(pixels, trace));
        var txt = ClipModel.Normalize(model.text!.Forward(ids, null, trace));
        trace?.Add("image_embeds_normalized", img);
        trace?.Add("text_embeds_normalized", txt);
        return img.mul(txt).sum(-1);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            foreach (var module in _modules)
            {
                module.Dispose();
            }
        }

        GC.SuppressFinalize(this);
    }
}

/// <summary>A CLIP-family scorer on one CLIP model and its tokenizer (PickScore, HPSv2, CLIPScore).</summary>
public abstract class ClipPairScorer : ClipFamilyScorer
{
    private protected ClipPairScorer(ClipModel clip, ClipTokenizer tokenizer, ModelInfo model)
        : base(model, clip)
    {
        Clip = clip;
        Tokenizer = tokenizer;
    }

    /// <summary>The two towers.</summary>
    private protected ClipModel Clip { get; }

    /// <summary>The prompt tokenizer.</summary>
    private protected ClipTokenizer Tokenizer { get; }
}
