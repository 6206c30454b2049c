using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text;

namespace HpsSharp.Modeling.Scoring;

/// <summary>
/// The HPSv3 processor: image → Qwen2-VL patches at the pixel budget; prompt → the fixed chat text with the image
/// pad expanded to the image's merged token count and <c>&lt;|Reward|&gt;</c> (docs/prompt.md). Stateless after
/// construction, so items are prepared in parallel.
/// </summary>
internal sealed class Hpsv3Preprocessor(Qwen2Tokenizer tokenizer, Qwen2VLImageProcessor images) : IScoringPreprocessor
{
    public PreparedItem Prepare(ScoreRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var image = images.Process(request.Image);
        var tokens = Hpsv3Prompt.Build(tokenizer, request.Prompt, image.MergedTokens);
        return new PreparedItem(tokens.InputIds, tokens.RewardIndex, image.PixelValues, image.GridT, image.GridH, image.GridW);
    }
}
