namespace HpsSharp.Core.Data;

/// <summary>
/// One prompt with several images and their human ranks (ImageRewardDB test format, HPDv2 test format).
/// Lower rank is better; equal ranks are ties.
/// </summary>
/// <param name="Index">0-based position in the file.</param>
/// <param name="Line">1-based line where the record starts.</param>
/// <param name="Id">The record's id (its <c>id</c> field, or its index when the format has none).</param>
/// <param name="Prompt">The prompt.</param>
/// <param name="Images">Image paths as written in the file.</param>
/// <param name="Ranks">Human rank of each image, same order as <paramref name="Images"/>.</param>
/// <param name="Category">Optional category.</param>
public sealed record RankingItem(int Index, long Line, string Id, string Prompt, IReadOnlyList<string> Images, IReadOnlyList<double> Ranks, string? Category);

/// <summary>Reads the ImageRewardDB ranking test format: a JSON array of <c>{id, prompt, generations[], ranking[]}</c>.</summary>
public static class ImageRewardReader
{
    /// <summary>Streams the items of <paramref name="path"/>.</summary>
    /// <exception cref="DatasetFormatException">A record is malformed; names the file and line.</exception>
    public static IEnumerable<RankingItem> Read(string path) =>
        JsonArrayStream.Read(path).Select(item =>
        {
            var f = new JsonFields(item.Element, path, item.Line, $"record {item.Index}");
            string id = f.Has("id") && item.Element.GetProperty("id").ValueKind == System.Text.Json.JsonValueKind.Number
                ? item.Element.GetProperty("id").GetRawText()
                : f.OptionalString("id") ?? item.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return RankingChecks.Build(f, item, id, f.RequiredString("prompt"), f.RequiredStrings("generations"), f.RequiredNumbers("ranking"), "generations", "ranking");
        });
}

/// <summary>Reads the HPDv2 test format: a JSON array of <c>{prompt, image_path[], rank[]}</c> (lower rank = better).</summary>
public static class Hpdv2TestReader
{
    /// <summary>Streams the items of <paramref name="path"/>.</summary>
    /// <exception cref="DatasetFormatException">A record is malformed; names the file and line.</exception>
    public static IEnumerable<RankingItem> Read(string path) =>
        JsonArrayStream.Read(path).Select(item =>
        {
            var f = new JsonFields(item.Element, path, item.Line, $"record {item.Index}");
            string id = f.OptionalString("id") ?? item.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return RankingChecks.Build(f, item, id, f.RequiredString("prompt"), f.RequiredStrings("image_path"), f.RequiredNumbers("rank"), "image_path", "rank");
        });
}

internal static class RankingChecks
{
    public static RankingItem Build(JsonFields f, JsonArrayItem item, string id, string prompt, string[] images, double[] ranks, string imagesName, string ranksName)
    {
        if (images.Length != ranks.Length)
        {
            throw f.Error($"'{imagesName}' has {images.Length} entries but '{ranksName}' has {ranks.Length}");
        }

        if (images.Length < 2)
        {
            throw f.Error($"'{imagesName}' needs at least 2 images to rank, found {images.Length}");
        }

        return new RankingItem(item.Index, item.Line, id, prompt, images, ranks, f.OptionalString("category"));
    }
}
