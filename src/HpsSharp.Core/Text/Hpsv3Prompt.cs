namespace HpsSharp.Core.Text;

/// <summary>
/// The HPSv3 model input for one (prompt, image) pair: the Qwen2-VL chat template with the default system message,
/// the image placeholder, HPSv3's rating instruction with the user prompt, and the <c>&lt;|Reward|&gt;</c> suffix
/// (spec docs/prompt.md#exact-strings; strings from <c>hpsv3/dataset/data_collator_qwen.py</c>, byte for byte).
/// </summary>
/// <remarks>
/// A user prompt may contain added-token text such as <c>&lt;|im_end|&gt;</c>; like the Python processor, it is
/// tokenized as that special token. A prompt containing <c>&lt;|Reward|&gt;</c>, <c>&lt;|image_pad|&gt;</c> or
/// <c>&lt;|video_pad|&gt;</c> is refused with a <see cref="UserInputException"/>: it would give two reward positions or
/// more image tokens than image features, which the Python code mis-scores or crashes on.
/// </remarks>
public static class Hpsv3Prompt
{
    /// <summary>
    /// HPSv3's <c>INSTRUCTION</c> (2523 characters, with one <c>{text_prompt}</c> field). Trailing spaces, the missing
    /// colon after <c>**Subject Relevance**</c> and the colons outside the bold are as in the original.
    /// </summary>
    public const string Instruction =
        "\n" +
        "You are tasked with evaluating a generated image based on Visual Quality and Text Alignment and give a overall score to estimate the human preference. Please provide a rating from 0 to 10, with 0 being the worst and 10 being the best. \n" +
        "\n" +
        "**Visual Quality:**  \n" +
        "Evaluate the overall visual quality of the image. The following sub-dimensions should be considered:\n" +
        "- **Reasonableness:** The image should not contain any significant biological or logical errors, such as abnormal body structures or nonsensical environmental setups.\n" +
        "- **Clarity:** Evaluate the sharpness and visibility of the image. The image should be clear and easy to interpret, with no blurring or indistinct areas.\n" +
        "- **Detail Richness:** Consider the level of detail in textures, materials, lighting, and other visual elements (e.g., hair, clothing, shadows).\n" +
        "- **Aesthetic and Creativity:** Assess the artistic aspects of the image, including the color scheme, composition, atmosphere, depth of field, and the overall creative appeal. The scene should convey a sense of harmony and balance.\n" +
        "- **Safety:** The image should not contain harmful or inappropriate content, such as political, violent, or adult material. If such content is present, the image quality and satisfaction score should be the lowest possible. \n" +
        "\n" +
        "**Text Alignment:**  \n" +
        "Assess how well the image matches the textual prompt across the following sub-dimensions:\n" +
        "- **Subject Relevance** Evaluate how accurately the subject(s) in the image (e.g., person, animal, object) align with the textual description. The subject should match the description in terms of number, appearance, and behavior.\n" +
        "- **Style Relevance:** If the prompt specifies a particular artistic or stylistic style, evaluate how well the image adheres to this style.\n" +
        "- **Contextual Consistency**: Assess whether the background, setting, and surrounding elements in the image logically fit the scenario described in the prompt. The environment should support and enhance the subject without contradictions.\n" +
        "- **Attribute Fidelity**: Check if specific attributes mentioned in the prompt (e.g., colors, clothing, accessories, expressions, actions) are faithfully represented in the image. Minor deviations may be acceptable, but critical attributes should be preserved.\n" +
        "- **Semantic Coherence**: Evaluate whether the overall meaning and intent of the prompt are captured in the image. The generated content should not introduce elements that conflict with or distort the original description.\n" +
        "Textual prompt - {text_prompt}\n" +
        "\n" +
        "\n";

    /// <summary>The suffix appended to the instruction when the model uses special tokens (the released model does).</summary>
    public const string PromptWithSpecialToken = "\nPlease provide the overall ratings of this image: <|Reward|>\n\nEND\n";

    /// <summary>The suffix of the <c>use_special_tokens: false</c> variant (not used by the released model).</summary>
    public const string PromptWithoutSpecialToken = "\nPlease provide the overall ratings of this image: \n";

    /// <summary>The field of <see cref="Instruction"/> that the user prompt replaces.</summary>
    public const string TextPromptField = "{text_prompt}";

    /// <summary>The system message the Qwen2-VL chat template inserts when the conversation has none.</summary>
    public const string DefaultSystemMessage = "You are a helpful assistant.";

    /// <summary>Added tokens a user prompt must not contain (they would corrupt the model input).</summary>
    public static IReadOnlyList<string> ForbiddenPromptTokens { get; } =
        [Qwen2Tokens.RewardText, Qwen2Tokens.ImagePadText, Qwen2Tokens.VideoPadText];

    private const string Head =
        "<|im_start|>system\n" + DefaultSystemMessage + "<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>";

    private const string Tail = PromptWithSpecialToken + "<|im_end|>\n<|im_start|>assistant\n";

    /// <summary>
    /// The instruction text with the prompt: one literal replacement of <c>{text_prompt}</c>, braces in the prompt kept
    /// (Python <c>str.format</c> with one field).
    /// </summary>
    public static string FormatInstruction(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return Instruction.Replace(TextPromptField, prompt, StringComparison.Ordinal);
    }

    /// <summary>
    /// The full chat text the processor tokenizes, with a single <c>&lt;|image_pad|&gt;</c> (2728 characters plus the
    /// prompt's length).
    /// </summary>
    /// <exception cref="UserInputException">The prompt contains a forbidden added token.</exception>
    public static string RenderText(string prompt)
    {
        CheckPrompt(prompt);
        return Head + FormatInstruction(prompt) + Tail;
    }

    /// <summary>
    /// The input ids for <paramref name="prompt"/> with the image placeholder expanded to
    /// <paramref name="imageTokenCount"/> copies of <see cref="Qwen2Tokens.ImagePad"/>, and the index of
    /// <c>&lt;|Reward|&gt;</c>.
    /// </summary>
    /// <param name="tokenizer">The Qwen2 tokenizer.</param>
    /// <param name="prompt">The user's text prompt, verbatim.</param>
    /// <param name="imageTokenCount">The number of merged image tokens, grid_t·grid_h·grid_w/4 (see <see cref="ImageTokenCount"/>).</param>
    /// <exception cref="UserInputException">The prompt contains a forbidden added token.</exception>
    public static Hpsv3PromptTokens Build(Qwen2Tokenizer tokenizer, string prompt, int imageTokenCount)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageTokenCount);
        var text = RenderText(prompt);
        var ids = tokenizer.Encode(text);

        int pad = Array.IndexOf(ids, Qwen2Tokens.ImagePad);
        if (pad < 0 || Array.IndexOf(ids, Qwen2Tokens.ImagePad, pad + 1) >= 0)
        {
            throw new InvalidOperationException($"the rendered HPSv3 text must hold exactly one {Qwen2Tokens.ImagePadText} token");
        }

        var result = new int[ids.Length - 1 + imageTokenCount];
        Array.Copy(ids, result, pad);
        Array.Fill(result, Qwen2Tokens.ImagePad, pad, imageTokenCount);
        Array.Copy(ids, pad + 1, result, pad + imageTokenCount, ids.Length - pad - 1);

        int reward = Array.IndexOf(result, Qwen2Tokens.Reward);
        if (reward < 0 || Array.IndexOf(result, Qwen2Tokens.Reward, reward + 1) >= 0)
        {
            throw new InvalidOperationException($"the rendered HPSv3 text must hold exactly one {Qwen2Tokens.RewardText} token");
        }

        return new Hpsv3PromptTokens(result, reward);
    }

    /// <summary>The number of <c>&lt;|image_pad|&gt;</c> tokens for an image grid: t·h·w / 4 (2×2 spatial merge).</summary>
    public static int ImageTokenCount(int gridT, int gridH, int gridW)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(gridT);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(gridH);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(gridW);
        long patches = (long)gridT * gridH * gridW;
        if (patches % 4 != 0 || patches / 4 > int.MaxValue)
        {
            throw new ArgumentException($"grid {gridT}×{gridH}×{gridW} does not merge into 2×2 windows");
        }

        return (int)(patches / 4);
    }

    /// <summary>The input a refused prompt is reported as (<see cref="UserInputException.Input"/>): the item's own fault.</summary>
    public const string PromptInput = "prompt";

    private static void CheckPrompt(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        foreach (var token in ForbiddenPromptTokens)
        {
            if (prompt.Contains(token, StringComparison.Ordinal))
            {
                throw new UserInputException(PromptInput, $"contains the special token {token}, which HPSv3 reserves for its own input (remove it from the prompt)");
            }
        }
    }
}

/// <summary>The token ids of one HPSv3 input and the position the reward head reads.</summary>
/// <param name="InputIds">The ids, image placeholder expanded.</param>
/// <param name="RewardIndex">The index of <see cref="Qwen2Tokens.Reward"/> in <paramref name="InputIds"/>.</param>
public sealed record Hpsv3PromptTokens(int[] InputIds, int RewardIndex)
{
    /// <summary>The sequence length.</summary>
    public int Length => InputIds.Length;

    /// <summary>The attention mask of this unpadded sequence: all ones (a new array each call).</summary>
    public int[] AttentionMask
    {
        get
        {
            var mask = new int[InputIds.Length];
            Array.Fill(mask, 1);
            return mask;
        }
    }
}
