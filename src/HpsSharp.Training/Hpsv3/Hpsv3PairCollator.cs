using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text;
using HpsSharp.Modeling;
using HpsSharp.Training.Data;
using static TorchSharp.torch;

namespace HpsSharp.Training.Hpsv3;

/// <summary>One (prompt, image) prepared exactly as the HPSv3 processor does: template ids with image pads, and pixels.</summary>
public sealed record Hpsv3Item(int[] InputIds, int RewardIndex, ProcessedImage Image);

/// <summary>
/// Tokenises the HPSv3 prompt and preprocesses each image (Qwen2-VL processor, min/max pixels), then right-pads a
/// side of the batch with <c>&lt;|endoftext|&gt;</c> as <c>QWen2VLDataCollator</c> does (A and B are padded separately).
/// </summary>
public sealed class Hpsv3PairCollator : IPairCollator<Hpsv3Item, Hpsv3Batch>
{
    private readonly Qwen2Tokenizer _tokenizer;
    private readonly Qwen2VLImageProcessor _processor;

    public Hpsv3PairCollator(Qwen2Tokenizer tokenizer, Qwen2VLImageProcessor processor)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(processor);
        _tokenizer = tokenizer;
        _processor = processor;
    }

    public Hpsv3Item Prepare(string prompt, string imagePath)
    {
        var image = _processor.Process(ImageInput.FromPath(imagePath));
        var tokens = Hpsv3Prompt.Build(_tokenizer, prompt, image.MergedTokens);
        return new Hpsv3Item(tokens.InputIds, tokens.RewardIndex, image);
    }

    public Hpsv3Batch Collate(IReadOnlyList<Hpsv3Item> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var padded = TokenBatch.RightPad(items.Select(i => i.InputIds).ToList());
        long rows = items.Sum(i => (long)i.Image.Rows);
        var pixels = new float[rows * ProcessedImage.RowLength];
        long at = 0;
        foreach (var i in items)
        {
            i.Image.PixelValues.CopyTo(pixels, at);
            at += i.Image.PixelValues.Length;
        }

        var grid = items.SelectMany(i => new long[] { i.Image.GridT, i.Image.GridH, i.Image.GridW }).ToArray();
        return new Hpsv3Batch(
            tensor(padded.InputIds, new long[] { padded.Batch, padded.Length }),
            tensor(padded.AttentionMask, new long[] { padded.Batch, padded.Length }),
            tensor(pixels, new long[] { rows, ProcessedImage.RowLength }),
            tensor(grid, new long[] { items.Count, 3 }),
            tensor(items.Select(i => (long)i.RewardIndex).ToArray()));
    }
}
