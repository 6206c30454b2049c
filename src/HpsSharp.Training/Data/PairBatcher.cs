using HpsSharp.Core;
using static TorchSharp.torch;

namespace HpsSharp.Training.Data;

/// <summary>Turns one image of a pair into a model item and a list of items into a right-padded batch.</summary>
/// <typeparam name="TItem">One prepared (prompt, image): token ids and pixels.</typeparam>
/// <typeparam name="TSide">A collated batch for one side (all A images, or all B images).</typeparam>
public interface IPairCollator<TItem, TSide>
    where TSide : IDisposable
{
    /// <summary>Prepares one image; throws (an <see cref="HpsException"/>, IO or invalid-data exception) when it cannot be read.</summary>
    TItem Prepare(string prompt, string imagePath);

    /// <summary>Collates items into one batch (right-padded).</summary>
    TSide Collate(IReadOnlyList<TItem> items);
}

/// <summary>A collated micro-batch: the preferred images (A), the others (B) and the tie mask when ties are used.</summary>
public sealed class PairBatch<TSide> : IDisposable
    where TSide : IDisposable
{
    public PairBatch(TSide a, TSide b, Tensor? nontiedMask, IReadOnlyList<PreferencePair> pairs)
    {
        A = a;
        B = b;
        NontiedMask = nontiedMask;
        Pairs = pairs;
    }

    public TSide A { get; }

    public TSide B { get; }

    /// <summary>[B] bool, true for non-tied pairs; null when no tie threshold is set.</summary>
    public Tensor? NontiedMask { get; }

    public IReadOnlyList<PreferencePair> Pairs { get; }

    public int Count => Pairs.Count;

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
        NontiedMask?.Dispose();
    }
}

/// <summary>
/// Seeded shuffling: epoch e visits the pairs in a Fisher–Yates permutation drawn from SplitMix64(seed, e), so the
/// data position of a run is (epoch, offset) and a resumed run sees exactly the pairs an uninterrupted one would.
/// </summary>
public sealed class PairSampler
{
    private readonly int _count;
    private readonly long _seed;
    private readonly bool _shuffle;
    private int[] _order = Array.Empty<int>();

    public PairSampler(int count, long seed, bool shuffle = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        _count = count;
        _seed = seed;
        _shuffle = shuffle;
        Seek(0, 0);
    }

    public int Epoch { get; private set; }

    /// <summary>Pairs of this epoch already handed out.</summary>
    public int Offset { get; private set; }

    public int Count => _count;

    public bool EndOfEpoch => Offset >= _count;

    /// <summary>Moves to a data position (from a checkpoint).</summary>
    public void Seek(int epoch, int offset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, _count);
        Epoch = epoch;
        Offset = offset;
        _order = Permutation(_count, _seed, epoch, _shuffle);
    }

    /// <summary>The index of the next pair, or -1 at the end of the epoch.</summary>
    public int Next() => Offset < _count ? _order[Offset++] : -1;

    public void NextEpoch() => Seek(Epoch + 1, 0);

    /// <summary>The visiting order of an epoch.</summary>
    public static int[] Permutation(int count, long seed, int epoch, bool shuffle = true)
    {
        var order = new int[count];
        for (int i = 0; i < count; i++)
        {
            order[i] = i;
        }

        if (!shuffle)
        {
            return order;
        }

        ulong state = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)epoch * 0xD1B54A32D192ED03UL + 0x632BE59BD9B4E019UL);
        for (int i = count - 1; i > 0; i--)
        {
            int j = (int)(SplitMix64(ref state) % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }

        return order;
    }

    private static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>
/// Streams micro-batches of <see cref="BatchSize"/> pairs in the sampler's order, preparing both images of each pair;
/// a pair with an unreadable image is reported with its row, counted, and replaced by the next pair (or, with
/// <see cref="PairDataOptions.Strict"/>, stops the run).
/// </summary>
public sealed class PairBatcher<TItem, TSide>
    where TSide : IDisposable
{
    private readonly IReadOnlyList<PreferencePair> _pairs;
    private readonly IPairCollator<TItem, TSide> _collator;
    private readonly DataReport _report;
    private readonly string _source;

    public PairBatcher(string source, IReadOnlyList<PreferencePair> pairs, PairSampler sampler, IPairCollator<TItem, TSide> collator,
        int batchSize, bool strict, double? tieThreshold, DataReport report)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(collator);
        ArgumentNullException.ThrowIfNull(report);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _source = source;
        _pairs = pairs;
        Sampler = sampler;
        _collator = collator;
        BatchSize = batchSize;
        Strict = strict;
        TieThreshold = tieThreshold;
        _report = report;
    }

    public PairSampler Sampler { get; }

    public int BatchSize { get; }

    public bool Strict { get; }

    public double? TieThreshold { get; }

    /// <summary>The next micro-batch of this epoch, or null when the epoch has no pairs left.</summary>
    public PairBatch<TSide>? Next()
    {
        var used = new List<PreferencePair>(BatchSize);
        var a = new List<TItem>(BatchSize);
        var b = new List<TItem>(BatchSize);
        while (used.Count < BatchSize)
        {
            int idx = Sampler.Next();
            if (idx < 0)
            {
                break;
            }

            var p = _pairs[idx];
            TItem ia, ib;
            try
            {
                ia = _collator.Prepare(p.Prompt, p.Preferred);
                ib = _collator.Prepare(p.Prompt, p.Other);
            }
            catch (Exception ex) when (ex is HpsException or IOException or InvalidDataException or UnauthorizedAccessException)
            {
                if (Strict)
                {
                    throw new TrainingDataException(_source, p.Row, "image could not be read: " + ex.Message, ex);
                }

                _report.BadImages++;
                _report.AddSkipped(new SkippedItem(_source, p.Row, "image could not be read: " + ex.Message));
                continue;
            }

            used.Add(p);
            a.Add(ia);
            b.Add(ib);
        }

        if (used.Count == 0)
        {
            return null;
        }

        Tensor? mask = null;
        if (TieThreshold is double t)
        {
            // Pairs without votes count as non-tied (the code's default choice_dist is [1, 0]).
            var flags = used.Select(p => p.ChoiceDist is not { } d || d[0] + d[1] == 0 || Math.Abs((d[0] - d[1]) / (d[0] + d[1])) > t).ToArray();
            mask = tensor(flags);
        }

        var sa = _collator.Collate(a);
        TSide sb;
        try
        {
            sb = _collator.Collate(b);
        }
        catch
        {
            sa.Dispose();
            mask?.Dispose();
            throw;
        }

        return new PairBatch<TSide>(sa, sb, mask, used);
    }
}
