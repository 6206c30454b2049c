using HpsSharp.Core.Scoring;
using HpsSharp.Core.Video;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Media.Tests;

[Trait("Category", "Integration")]
public sealed class FfmpegVideoDecoderTests
{
    private static readonly FfmpegVideoDecoder Decoder = new();

    [FfmpegFact]
    public async Task StrideKeepsEveryNthFrameWithItsTime()
    {
        using var dir = TestPaths.TempDir();
        var clip = TestClips.TestSrc(dir.File("t.mp4"), frames: 10, fps: 8);

        var frames = await Decoder.DecodeAsync(clip, FrameSampling.EveryNth(3), 1_000_000);

        Assert.Equal([0, 3, 6, 9], frames.Select(f => f.Index));
        Assert.Equal([0.0, 0.375, 0.75, 1.125], frames.Select(f => Math.Round(f.Time, 6)));
        Assert.All(frames, f => Assert.Equal((64, 48, 64 * 48 * 3), (f.Image.Width, f.Image.Height, f.Image.Pixels.Length)));
        Assert.NotEqual(frames[0].Image.Pixels, frames[1].Image.Pixels); // testsrc moves
    }

    [FfmpegFact]
    public async Task EveryFrameOfALongerClipArrivesInOrder()
    {
        // 240 frames of 9 KB, many times a pipe's buffer: every frame must arrive, also those still in flight when ffmpeg
        // exits. (FFMpegCore's output pipe dropped those when its reader lagged behind; that race showed once, under a
        // load average of ≈ 10, as "no frame could be decoded" — this test guards the result, it cannot force the race.)
        using var dir = TestPaths.TempDir();
        var clip = TestClips.TestSrc(dir.File("long.mp4"), frames: 240, fps: 24);

        var frames = await Decoder.DecodeAsync(clip, FrameSampling.EveryNth(1), 1_000_000);

        Assert.Equal(Enumerable.Range(0, 240), frames.Select(f => f.Index));
        Assert.Equal(239 / 24.0, frames[^1].Time, 6);
    }

    [FfmpegFact]
    public async Task CountTakesEvenlySpacedFramesIncludingFirstAndLast()
    {
        using var dir = TestPaths.TempDir();
        var clip = TestClips.Ramp(dir.File("r.mp4"), frames: 9);

        var frames = await Decoder.DecodeAsync(clip, FrameSampling.Count(3), 1_000_000);

        Assert.Equal([0, 4, 8], frames.Select(f => f.Index));

        // The ramp's green channel rises with the frame number (g = N*255/8): frame 0 dark, frame 8 bright.
        double Green(VideoFrame f) => Enumerable.Range(0, f.Image.Width * f.Image.Height).Average(p => f.Image.Pixels[(p * 3) + 1]);
        Assert.True(Green(frames[0]) < 40, $"frame 0 green {Green(frames[0])}");
        Assert.True(Green(frames[2]) > 200, $"frame 8 green {Green(frames[2])}");
        Assert.InRange(Green(frames[1]), 100, 160);
    }

    [FfmpegFact]
    public async Task CorruptClipAndMissingFileAndTooLargeFramesAreDecodeErrors()
    {
        using var dir = TestPaths.TempDir();
        var good = TestClips.TestSrc(dir.File("t.mp4"), frames: 4);
        var bad = TestClips.Corrupt(dir.File("bad.mp4"), good);

        var e1 = await Assert.ThrowsAsync<VideoDecodeException>(() => Decoder.DecodeAsync(bad, FrameSampling.Count(2), 1_000_000));
        Assert.Contains("not a decodable video", e1.Message, StringComparison.Ordinal);
        var e2 = await Assert.ThrowsAsync<VideoDecodeException>(() => Decoder.DecodeAsync(dir.File("none.mp4"), FrameSampling.Count(2), 1_000_000));
        Assert.Contains("file not found", e2.Message, StringComparison.Ordinal);
        var e3 = await Assert.ThrowsAsync<VideoDecodeException>(() => Decoder.DecodeAsync(good, FrameSampling.Count(2), 100));
        Assert.Contains("the limit is 100", e3.Message, StringComparison.Ordinal);
    }

    [FfmpegFact]
    public async Task FramesOfAllClipsAreScoredInOneBatchAndACorruptClipFailsAlone()
    {
        using var dir = TestPaths.TempDir();
        var a = TestClips.TestSrc(dir.File("a.mp4"), frames: 6);
        var b = TestClips.Ramp(dir.File("b.mp4"), frames: 5);
        var bad = TestClips.Corrupt(dir.File("bad.mp4"), a);
        var scorer = new FakeScorer();

        var results = await VideoScorer.ScoreAsync(scorer, Decoder, [(a, "p"), (bad, "p"), (b, "q")], FrameSampling.Count(3), VideoAggregate.Min, 1_000_000);

        Assert.Equal(1, scorer.Calls);
        Assert.Equal([6], scorer.BatchSizes);
        Assert.True(results[0].Ok && results[2].Ok);
        Assert.False(results[1].Ok);
        Assert.Contains("not a decodable video", results[1].Error, StringComparison.Ordinal);
        Assert.Equal(results[0].Frames.Min(f => f.Score!.Value.Mu), results[0].Mu);
        Assert.Equal("min", results[0].Aggregate);
        Assert.Equal([0, 2, 4], results[2].Frames.Select(f => f.Index));
    }
}

[Trait("Category", "Unit")]
public sealed class VideoAggregateTests
{
    [Fact]
    public void TopFractionIsTheMeanOfTheBestShareWithAtLeastOneFrame()
    {
        double[] s = [1, 5, 3, 9, 7, 2, 8, 4, 6, 0];
        Assert.Equal((9 + 8 + 7) / 3.0, VideoAggregate.Parse("top_fraction:0.3")!.Apply(s), 12);
        Assert.Equal(9, VideoAggregate.TopFraction(0.3).Apply([1, 9, 3]), 12); // int(3·0.3) = 0 → the single best frame
        Assert.Equal(4.5, VideoAggregate.Mean.Apply(s), 12);
        Assert.Equal(0, VideoAggregate.Min.Apply(s));
        Assert.Null(VideoAggregate.Parse("top_fraction:0"));
        Assert.Null(VideoAggregate.Parse("median"));
        Assert.Equal("top_fraction:0.3", VideoAggregate.Parse("top_fraction:0.3")!.Name);
    }

    [Fact]
    public void EvenlySpacedIndices()
    {
        Assert.Equal([0, 4, 8], FrameSampling.EvenlySpaced(9, 3));
        Assert.Equal([0, 1, 2], FrameSampling.EvenlySpaced(3, 5));
        Assert.Equal([0], FrameSampling.EvenlySpaced(7, 1));
        Assert.Equal([0, 2, 3, 5], FrameSampling.EvenlySpaced(6, 4));
    }
}
