using System.Text.Json.Nodes;

namespace HpsSharp.Cohp.Generators;

/// <summary>
/// The AUTOMATIC1111-compatible API (also served by Forge, SD.Next and others): <c>POST /sdapi/v1/txt2img</c> and
/// <c>POST /sdapi/v1/img2img</c> with base64 images. One image per call (<c>batch_size</c> 1) so every image has
/// its own seed; the first image of the answer is the result (extensions may append extra images).
/// </summary>
public sealed class A1111Generator : HttpGenerator
{
    public A1111Generator(GeneratorSpec spec, HttpMessageHandler? handler = null)
        : base(spec, handler)
    {
    }

    /// <inheritdoc/>
    public override Task<GeneratedImage> TextToImageAsync(string prompt, long seed, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var body = Body(prompt, seed);
        return WithRetriesAsync("txt2img", ct => CallAsync("/sdapi/v1/txt2img", body, ct), cancellationToken);
    }

    /// <inheritdoc/>
    public override Task<GeneratedImage> ImageToImageAsync(string prompt, long seed, ReadOnlyMemory<byte> initImage, double strength, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentOutOfRangeException.ThrowIfNegative(strength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(strength, 1.0);
        var body = Body(prompt, seed);
        body["init_images"] = new JsonArray(Convert.ToBase64String(initImage.Span));
        body["denoising_strength"] = strength;
        return WithRetriesAsync("img2img", ct => CallAsync("/sdapi/v1/img2img", body, ct), cancellationToken);
    }

    /// <summary>The request body shared by txt2img and img2img (without the init image and strength).</summary>
    public JsonObject Body(string prompt, long seed)
    {
        var body = Spec.Extra is null ? [] : (JsonObject)Spec.Extra.DeepClone();
        body["prompt"] = prompt;
        body["negative_prompt"] = Spec.NegativePrompt ?? string.Empty;
        body["seed"] = seed;
        body["width"] = Spec.Width;
        body["height"] = Spec.Height;
        body["batch_size"] = 1;
        body["n_iter"] = 1;
        body["send_images"] = true;
        if (Spec.Steps is int steps)
        {
            body["steps"] = steps;
        }

        if (Spec.Guidance is double g)
        {
            body["cfg_scale"] = g;
        }

        if (Spec.Sampler is not null)
        {
            body["sampler_name"] = Spec.Sampler;
        }

        if (Spec.Model is not null)
        {
            var overrides = body["override_settings"] as JsonObject ?? [];
            overrides["sd_model_checkpoint"] = Spec.Model;
            body["override_settings"] = overrides;
        }

        return body;
    }

    private async Task<GeneratedImage> CallAsync(string path, JsonObject body, CancellationToken ct)
    {
        var answer = await PostJsonAsync(path, body, ct).ConfigureAwait(false);
        if (answer["images"] is not JsonArray { Count: > 0 } images || images[0] is not JsonValue first || !first.TryGetValue(out string? b64))
        {
            throw new ServerAnswerException($"{path} answered without an image (no non-empty \"images\" array)", transient: false);
        }

        return DecodeImage(b64, $"{path} images[0]");
    }
}
