namespace HpsSharp.Core.Text;

/// <summary>
/// Ids of the Qwen2-VL added tokens that HPSv3 relies on (Qwen2-VL <c>tokenizer_config.json</c>, plus HPSv3's
/// <c>&lt;|Reward|&gt;</c>). <see cref="Qwen2Tokenizer.FromDirectory"/> refuses tokenizer files that disagree.
/// </summary>
public static class Qwen2Tokens
{
    /// <summary><c>&lt;|endoftext|&gt;</c>, the padding token.</summary>
    public const int Pad = 151643;

    /// <summary><c>&lt;|im_start|&gt;</c>.</summary>
    public const int ImStart = 151644;

    /// <summary><c>&lt;|im_end|&gt;</c>, the end-of-sequence token.</summary>
    public const int ImEnd = 151645;

    /// <summary><c>&lt;|vision_start|&gt;</c>.</summary>
    public const int VisionStart = 151652;

    /// <summary><c>&lt;|vision_end|&gt;</c>.</summary>
    public const int VisionEnd = 151653;

    /// <summary><c>&lt;|image_pad|&gt;</c>: one per merged image token.</summary>
    public const int ImagePad = 151655;

    /// <summary><c>&lt;|video_pad|&gt;</c>.</summary>
    public const int VideoPad = 151656;

    /// <summary><c>&lt;|Reward|&gt;</c>, the token HPSv3 adds; the reward head reads the hidden state at its position.</summary>
    public const int Reward = 151657;

    /// <summary>Text of <see cref="Pad"/>.</summary>
    public const string PadText = "<|endoftext|>";

    /// <summary>Text of <see cref="ImStart"/>.</summary>
    public const string ImStartText = "<|im_start|>";

    /// <summary>Text of <see cref="ImEnd"/>.</summary>
    public const string ImEndText = "<|im_end|>";

    /// <summary>Text of <see cref="VisionStart"/>.</summary>
    public const string VisionStartText = "<|vision_start|>";

    /// <summary>Text of <see cref="VisionEnd"/>.</summary>
    public const string VisionEndText = "<|vision_end|>";

    /// <summary>Text of <see cref="ImagePad"/>.</summary>
    public const string ImagePadText = "<|image_pad|>";

    /// <summary>Text of <see cref="VideoPad"/>.</summary>
    public const string VideoPadText = "<|video_pad|>";

    /// <summary>Text of <see cref="Reward"/>.</summary>
    public const string RewardText = "<|Reward|>";

    /// <summary>The tokens whose ids a tokenizer folder must agree with (all but <c>&lt;|Reward|&gt;</c>, which is added when absent).</summary>
    internal static readonly IReadOnlyList<(string Text, int Id)> Required =
    [
        (PadText, Pad), (ImStartText, ImStart), (ImEndText, ImEnd), (VisionStartText, VisionStart),
        (VisionEndText, VisionEnd), (ImagePadText, ImagePad), (VideoPadText, VideoPad),
    ];
}
