namespace HpsSharp.Core.Text;

/// <summary>Right padding of token sequences into one batch, as the HPSv3 processor call does (<c>padding=True</c>).</summary>
public static class TokenBatch
{
    /// <summary>
    /// Pads every sequence on the right with <paramref name="padId"/> to the longest length. The mask is 1 on real
    /// tokens and 0 on padding. Right padding keeps each sequence's token positions and reward index unchanged.
    /// </summary>
    /// <exception cref="ArgumentException">No sequences, or an empty or null sequence.</exception>
    public static TokenBatchResult RightPad(IReadOnlyList<int[]> sequences, int padId = Qwen2Tokens.Pad)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0)
        {
            throw new ArgumentException("a batch needs at least one sequence", nameof(sequences));
        }

        int length = 0;
        for (int i = 0; i < sequences.Count; i++)
        {
            var s = sequences[i] ?? throw new ArgumentException($"sequence {i} is null", nameof(sequences));
            if (s.Length == 0)
            {
                throw new ArgumentException($"sequence {i} is empty; an all-padding row has nothing to attend to", nameof(sequences));
            }

            length = Math.Max(length, s.Length);
        }

        int batch = sequences.Count;
        var ids = new long[(long)batch * length];
        var mask = new long[ids.Length];
        for (int b = 0; b < batch; b++)
        {
            var s = sequences[b];
            int row = b * length;
            for (int j = 0; j < s.Length; j++)
            {
                ids[row + j] = s[j];
                mask[row + j] = 1;
            }

            Array.Fill(ids, padId, row + s.Length, length - s.Length);
        }

        return new TokenBatchResult(ids, mask, batch, length);
    }
}

/// <summary>A right-padded batch of token ids.</summary>
/// <param name="InputIds">Ids, <c>[Batch, Length]</c> row-major.</param>
/// <param name="AttentionMask">1 on real tokens, 0 on padding, same layout.</param>
/// <param name="Batch">Number of sequences.</param>
/// <param name="Length">Padded length (the longest sequence).</param>
public sealed record TokenBatchResult(long[] InputIds, long[] AttentionMask, int Batch, int Length);
