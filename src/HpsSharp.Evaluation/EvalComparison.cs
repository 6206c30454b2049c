using HpsSharp.Core.Scoring.Contracts;

namespace HpsSharp.Evaluation;

/// <summary>Builds a <see cref="EvalComparison"/> (a record of Core's JSON contract) from per-scorer evaluations.</summary>
/// <remarks>
/// A static extension member, so that callers still write <c>EvalComparison.From(...)</c> while the record lives in Core
/// and the paper table it consults stays here.
/// </remarks>
public static class EvalComparisons
{
    extension(EvalComparison)
    {
        /// <summary>
        /// Puts per-scorer results of one dataset side by side. They must come from one dataset and one protocol (same
        /// dataset SHA-256, metric, tie policies and interval method); otherwise the table would compare unlike numbers.
        /// </summary>
        /// <exception cref="ArgumentException">No results, a scorer named twice, or the results disagree on the dataset or protocol.</exception>
        public static EvalComparison From(IReadOnlyList<(string Scorer, EvalResult Result)> results)
        {
            ArgumentNullException.ThrowIfNull(results);
            if (results.Count == 0)
            {
                throw new ArgumentException("a comparison needs at least one scorer's result", nameof(results));
            }

            var first = results[0].Result.Protocol;
            foreach (var (scorer, r) in results)
            {
                var p = r.Protocol;
                if (p.DatasetSha256 != first.DatasetSha256 || p.Metric != first.Metric || p.TiePolicy != first.TiePolicy
                    || p.GroundTruthTies != first.GroundTruthTies || p.Bootstrap != first.Bootstrap || p.Records != first.Records)
                {
                    throw new ArgumentException($"{scorer}: evaluated on another dataset or under another protocol than {results[0].Scorer}; a comparison needs one dataset and one protocol", nameof(results));
                }
            }

            var dup = results.GroupBy(x => x.Scorer, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
            if (dup is not null)
            {
                throw new ArgumentException($"scorer '{dup.Key}' is listed twice", nameof(results));
            }

            var format = EvalDataset.ParseFormat(first.Format);
            string? column = PaperAccuracy.ColumnFor(format);
            var rows = results.Select(x =>
            {
                var (row, why) = PaperAccuracy.RowFor(x.Scorer);
                double? paper = PaperAccuracy.Lookup(row, column);
                var r = x.Result;
                return new ScorerAccuracy
                {
                    Scorer = x.Scorer,
                    Model = r.Protocol.Model,
                    Scores = r.Protocol.Scores,
                    Dtype = r.Protocol.Dtype,
                    Preprocessing = r.Protocol.Preprocessing,
                    Accuracy = r.Accuracy,
                    Ci95 = r.Ci95,
                    Pairs = r.Pairs,
                    Correct = r.Correct,
                    Wrong = r.Wrong,
                    PredictedTies = r.PredictedTies,
                    TruthTies = r.TruthTies,
                    ScoredPairs = r.ScoredPairs,
                    MissingImages = r.Protocol.MissingImages,
                    FailedImages = r.Protocol.FailedImages,
                    SkippedPairs = r.Protocol.SkippedPairs,
                    ScoredImages = r.ScoredImages,
                    CacheHits = r.CacheHits,
                    MeanItemAccuracy = r.MeanItemAccuracy,
                    PaperAccuracy = paper,
                    PaperRow = paper is null ? null : row,
                    PaperNote = paper is not null ? null : column is null ? $"the paper has no column for the {first.Format} format" : why,
                };
            }).ToList();

            return new EvalComparison
            {
                Protocol = DatasetProtocol.RulesOf(first) with { EvaluatedUtc = results.Max(x => x.Result.Protocol.EvaluatedUtc)! },
                Paper = new PaperReference
                {
                    Source = PaperAccuracy.Source,
                    Column = column,
                    Note = column is null
                        ? $"The paper reports no {first.Format} dataset; no reference numbers"
                        : $"The paper's numbers are for its own {column} test set, with its protocol (the HPDv2 and Pick-a-Pic pair construction and ties are not published); they compare with this run only when this dataset is that test set",
                },
                Scorers = rows,
                SamePairs = rows.All(r => r.ScoredPairs == rows[0].ScoredPairs && r.SkippedPairs == 0),
                Results = results.Select(x => x.Result).ToList(),
            };
        }
    }
}
