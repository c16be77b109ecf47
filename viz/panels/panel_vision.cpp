// panel_vision.cpp — the vision panel: the image as the tower saw it with its patch grid and pooled cells, what each
// soft-token budget would do to it (reference/image.h's plan_image, the processor's own rule), and how much a chosen
// text token attends to each pooled cell. Leaves out the tower's internal (vision.<l>.attn_weights) attention maps.
#include <GL/gl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "image.h"
#include "panels.h"
#include "widgets.h"

namespace gemma4::viz {

namespace {

// One RGB texture, re-uploaded only when the pixels it shows change.
struct CachedTexture {
    GLuint id = 0;
    const void* source = nullptr;
    int width = 0, height = 0;
    ImTextureID get(const uint8_t* rgb, int w, int h) {
        if (id != 0 && source == rgb && width == w && height == h) return (ImTextureID)(intptr_t)id;
        if (id == 0) glGenTextures(1, &id);
        glBindTexture(GL_TEXTURE_2D, id);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
        glPixelStorei(GL_UNPACK_ALIGNMENT, 1);  // rows of 3·w bytes are not 4-aligned in general
        glTexImage2D(GL_TEXTURE_2D, 0, GL_RGB, w, h, 0, GL_RGB, GL_UNSIGNED_BYTE, rgb);
        source = rgb;
        width = w;
        height = h;
        return (ImTextureID)(intptr_t)id;
    }
};

// The resized image the tower saw, rebuilt from vision.patches ([N, 3·p·p] in [0, 1], element (py·p + px)·3 + ch).
struct PatchImage {
    const float* source = nullptr;
    int width = 0, height = 0;
    std::vector<uint8_t> rgb;
};
const PatchImage& image_from_patches(const Tensor& patches, const VisionGrid& g) {
    static PatchImage img;
    if (img.source == patches.data.data()) return img;
    const int p = g.patch_px;
    img.width = g.patch_cols * p;
    img.height = g.patch_rows * p;
    img.rgb.assign(static_cast<size_t>(img.width) * img.height * 3, 0);
    const int64_t per_patch = int64_t(3) * p * p;
    const int64_t n = std::min<int64_t>(int64_t(g.patch_rows) * g.patch_cols, static_cast<int64_t>(patches.data.size()) / per_patch);
    for (int64_t i = 0; i < n; ++i) {
        const int pr = static_cast<int>(i / g.patch_cols), pc = static_cast<int>(i % g.patch_cols);
        const float* src = patches.data.data() + i * per_patch;
        for (int py = 0; py < p; ++py)
            for (int px = 0; px < p; ++px)
                for (int ch = 0; ch < 3; ++ch) {
                    const float v = std::clamp(src[(py * p + px) * 3 + ch], 0.0f, 1.0f);
                    img.rgb[((static_cast<size_t>(pr) * p + py) * img.width + static_cast<size_t>(pc) * p + px) * 3 + ch] =
                        static_cast<uint8_t>(std::lround(v * 255.0f));
                }
    }
    img.source = patches.data.data();
    return img;
}

// Patch lines (thin) every patch, pooled-cell lines (thick) every k patches, over a box of rows × cols patches.
void draw_grid(ImDrawList* dl, ImVec2 p0, ImVec2 size, int patch_rows, int patch_cols, int k) {
    const float pw = size.x / static_cast<float>(patch_cols), ph = size.y / static_cast<float>(patch_rows);
    if (pw >= 3.0f && ph >= 3.0f) {  // patch lines closer than 3 px would only grey the picture
        for (int c = 1; c < patch_cols; ++c)
            if (c % k) dl->AddLine(ImVec2(p0.x + c * pw, p0.y), ImVec2(p0.x + c * pw, p0.y + size.y), IM_COL32(255, 255, 255, 90));
        for (int r = 1; r < patch_rows; ++r)
            if (r % k) dl->AddLine(ImVec2(p0.x, p0.y + r * ph), ImVec2(p0.x + size.x, p0.y + r * ph), IM_COL32(255, 255, 255, 90));
    }
    for (int c = 0; c <= patch_cols; c += k)
        dl->AddLine(ImVec2(p0.x + c * pw, p0.y), ImVec2(p0.x + c * pw, p0.y + size.y), IM_COL32(255, 220, 60, 200), 1.5f);
    for (int r = 0; r <= patch_rows; r += k)
        dl->AddLine(ImVec2(p0.x, p0.y + r * ph), ImVec2(p0.x + size.x, p0.y + r * ph), IM_COL32(255, 220, 60, 200), 1.5f);
}



}  // namespace

void draw_vision(const Recording& r, PanelState& s) {
    const WrapAtWindowEdge wrap;
    const ModelConfig& cfg = r.config();
    if (!cfg.vision) {
        ImGui::TextWrapped("%s has no vision tower (a text-only checkpoint). Open a model with one, e.g. -m tiny-e2b.",
                           cfg.name.c_str());
        return;
    }
    const VisionConfig& vc = *cfg.vision;
    const std::optional<VisionGrid> grid = vision_grid(r);
    if (!grid || grid->patch_rows == 0) {
        ImGui::TextWrapped("This run has no image. Start the inspector with an image, e.g.\n"
                           "  gemma4-inspector --image assets/samples/photo.png\n"
                           "or open a trace recorded with gemma4 trace --image ... to see the patch grid, the %d×%d pooling "
                           "and where the text attends in the picture.",
                           vc.pooling_kernel_size, vc.pooling_kernel_size);
        return;
    }
    const VisionGrid& g = *grid;
    const int k = g.pool > 0 ? g.pool : vc.pooling_kernel_size;
    const int p = g.patch_px > 0 ? g.patch_px : vc.patch_size;
    const int rec_w = g.patch_cols * p, rec_h = g.patch_rows * p;
    const int cells = g.cells_rows * g.cells_cols;

    ImGui::Text("Tower input %d×%d px -> %d×%d patches of %d px -> %d×%d pooled cells = %d soft tokens", rec_w, rec_h, g.patch_cols,
                g.patch_rows, p, g.cells_cols, g.cells_rows, cells);
    help_marker("The vision tower cuts the resized image into square patches (thin lines), runs a transformer over them, "
                "then averages each k×k block of patches (thick yellow lines) into one cell. Each cell becomes one soft "
                "token: a vector the language model reads in place of a word.");

    // ---- controls ----
    static int budget_index = -1;
    const int n_budgets = static_cast<int>(std::size(kImageBudgets));
    if (budget_index < 0) {
        budget_index = 0;
        for (int i = 0; i < n_budgets; ++i)
            if (kImageBudgets[i] == kDefaultImageBudget) budget_index = i;
    }
    ImGui::Text("Budget:");
    for (int i = 0; i < n_budgets; ++i) {
        ImGui::SameLine();
        char label[16];
        std::snprintf(label, sizeof label, "%d", kImageBudgets[i]);
        ImGui::RadioButton(label, &budget_index, i);
    }
    help_marker("The soft-token budget: the most tokens an image may cost. The processor shrinks or enlarges the image, "
                "keeping its aspect ratio, until its pooled cells fit the budget. More tokens: more detail, longer prompt.");

    const int L = cfg.text.num_hidden_layers;
    const int T = r.tokens();
    s.layer = std::clamp(s.layer, 0, std::max(L - 1, 0));
    ImGui::SetNextItemWidth(160);
    ImGui::SliderInt("layer", &s.layer, 0, std::max(L - 1, 0));
    help_marker("The decoder layer whose attention is shown on the image.");
    ImGui::SameLine();
    static bool mean_heads = true;
    ImGui::Checkbox("mean over heads", &mean_heads);
    help_marker("Average the attention of all query heads of the layer, or show one head.");
    const int H = cfg.text.num_attention_heads;
    if (!mean_heads) {
        ImGui::SameLine();
        s.head = std::clamp(s.head, 0, std::max(H - 1, 0));
        ImGui::SetNextItemWidth(120);
        ImGui::SliderInt("head", &s.head, 0, std::max(H - 1, 0));
        help_marker("One query head of the layer.");
    }
    int query = s.token < 0 || s.token >= T ? T - 1 : s.token;
    if (T > 0) {
        ImGui::SetNextItemWidth(220);
        if (ImGui::SliderInt("text token", &query, 0, T - 1)) s.token = query;
        help_marker("The token whose attention onto the image is shown: each pooled cell is tinted by how much attention "
                    "this token pays to that cell's soft token.");
        ImGui::SameLine();
        ImGui::TextDisabled("%s", token_label(r, query).c_str());
    }

    // Image soft-token positions in the text sequence: the image_token_id runs of meta.tokens.
    std::vector<int> image_positions;
    for (size_t i = 0; i < r.meta().tokens.size(); ++i)
        if (r.meta().tokens[i] == cfg.image_token_id) image_positions.push_back(static_cast<int>(i));
    if (static_cast<int>(image_positions.size()) > cells) image_positions.resize(cells);  // first image only

    // Attention of `query` to each cell.
    std::vector<float> cell_weight;
    std::string attention_note;
    if (const Tensor* w = r.probe(Probe::text_attn_weights, s.layer); w && T > 0 && !image_positions.empty()) {
        const int64_t h_n = w->dim(0), t_n = w->dim(1), s_n = w->dim(2);
        if (query < t_n && image_positions.back() < s_n) {
            cell_weight.assign(image_positions.size(), 0.0f);
            const int h0 = mean_heads ? 0 : std::min<int>(s.head, static_cast<int>(h_n) - 1);
            const int h1 = mean_heads ? static_cast<int>(h_n) : h0 + 1;
            for (int h = h0; h < h1; ++h) {
                const float* row = w->data.data() + (int64_t(h) * t_n + query) * s_n;
                for (size_t i = 0; i < image_positions.size(); ++i) cell_weight[i] += row[image_positions[i]] / float(h1 - h0);
            }
            double mass = 0;
            for (float v : cell_weight) mass += v;
            char buf[160];
            std::snprintf(buf, sizeof buf, "token %d puts %.1f%% of its attention on the image's %zu soft tokens (layer %d%s)", query,
                          100.0 * mass, image_positions.size(), s.layer, mean_heads ? ", mean over heads" : "");
            attention_note = buf;
            const std::vector<LayerInfo>& infos = r.layers();
            if (s.layer < static_cast<int>(infos.size()) && !infos[s.layer].global && infos[s.layer].window > 0 &&
                query - image_positions.back() >= infos[s.layer].window) {
                std::snprintf(buf, sizeof buf, "; layer %d is a sliding layer (window %d), so token %d sees only positions %d-%d, after the image",
                              s.layer, infos[s.layer].window, query, query - infos[s.layer].window + 1, query);
                attention_note += buf;
            }
        }
    } else if (image_positions.empty()) {
        attention_note = "no image soft tokens (id " + std::to_string(cfg.image_token_id) + ") in the recorded tokens";
    } else {
        attention_note = "text." + std::to_string(s.layer) + ".attn_weights was not recorded for this layer";
    }

    // ---- the image the tower saw, with grid and attention ----
    // Image and budget column side by side in a wide window, one above the other in a narrow one.
    const float avail = ImGui::GetContentRegionAvail().x;
    const bool side_by_side = avail >= 700.0f;
    const float left_w = side_by_side ? avail * 0.56f : std::max(avail - 8.0f, 120.0f);
    const float right_w = side_by_side ? std::max(avail - left_w - 16.0f, 100.0f) : left_w;
    const float max_h = std::max(ImGui::GetContentRegionAvail().y - ImGui::GetTextLineHeightWithSpacing() * 9.0f, 160.0f);
    const float scale = std::min(left_w / static_cast<float>(rec_w), max_h / static_cast<float>(rec_h));
    const ImVec2 img_size(rec_w * scale, rec_h * scale);

    const bool have_original = s.image_rgb && s.image_width > 0 && s.image_height > 0 &&
                               s.image_rgb->size() >= static_cast<size_t>(s.image_width) * s.image_height * 3;
    static CachedTexture texture;
    ImTextureID tex = nullptr;
    const char* source_note = "";
    if (have_original) {
        tex = texture.get(s.image_rgb->data(), s.image_width, s.image_height);
        source_note = "the input image, drawn at the size the processor resized it to";
    } else if (const Tensor* patches = r.probe(Probe::vision_patches); patches && !patches->data.empty()) {
        const PatchImage& pi = image_from_patches(*patches, g);
        tex = texture.get(pi.rgb.data(), pi.width, pi.height);
        source_note = "rebuilt from the recorded patches (vision.patches)";
    } else {
        source_note = "the pixels were not recorded; grid only";
    }

    ImGui::BeginGroup();
    ImGui::TextDisabled("%s", source_note);
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    if (tex)
        ImGui::Image(tex, img_size);
    else {
        ImGui::Dummy(img_size);
        dl->AddRectFilled(p0, ImVec2(p0.x + img_size.x, p0.y + img_size.y), IM_COL32(60, 60, 60, 255));
    }
    const bool image_hovered = ImGui::IsItemHovered();
    const float cw = img_size.x / static_cast<float>(g.cells_cols), chh = img_size.y / static_cast<float>(g.cells_rows);
    if (!cell_weight.empty()) {
        const float top = std::max(*std::max_element(cell_weight.begin(), cell_weight.end()), 1e-12f);
        for (size_t i = 0; i < cell_weight.size(); ++i) {
            const int cr = static_cast<int>(i) / g.cells_cols, cc = static_cast<int>(i) % g.cells_cols;
            const ImU32 base = ramp_color(cell_weight[i] / top);
            // Opacity grows with the weight, so cells the token ignores leave the picture as it is.
            const ImU32 tint = (base & 0x00FFFFFFu) | (static_cast<ImU32>(200.0f * cell_weight[i] / top) << IM_COL32_A_SHIFT);
            dl->AddRectFilled(ImVec2(p0.x + cc * cw, p0.y + cr * chh), ImVec2(p0.x + (cc + 1) * cw, p0.y + (cr + 1) * chh), tint);
        }
    }
    draw_grid(dl, p0, img_size, g.patch_rows, g.patch_cols, k);
    if (image_hovered) {
        const ImVec2 m = ImGui::GetMousePos();
        const int cc = std::clamp(static_cast<int>((m.x - p0.x) / cw), 0, g.cells_cols - 1);
        const int cr = std::clamp(static_cast<int>((m.y - p0.y) / chh), 0, g.cells_rows - 1);
        const int i = cr * g.cells_cols + cc;
        if (i < static_cast<int>(image_positions.size()))
            ImGui::SetTooltip("cell (%d, %d) = soft token %d at text position %d\npatches rows %d-%d, cols %d-%d%s", cr, cc, i,
                              image_positions[i], cr * k, cr * k + k - 1, cc * k, cc * k + k - 1,
                              i < static_cast<int>(cell_weight.size())
                                  ? ("\nattention from token " + std::to_string(query) + ": " + std::to_string(cell_weight[i])).c_str()
                                  : "");
        else
            ImGui::SetTooltip("cell (%d, %d): patches rows %d-%d, cols %d-%d", cr, cc, cr * k, cr * k + k - 1, cc * k, cc * k + k - 1);
    }
    ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + std::max(img_size.x, left_w));
    ImGui::TextWrapped("%s", attention_note.c_str());
    ImGui::PopTextWrapPos();
    ImGui::EndGroup();

    // ---- what the chosen budget would do ----
    if (side_by_side) ImGui::SameLine(0.0f, 16.0f);
    ImGui::BeginGroup();
    const int orig_w = have_original ? s.image_width : rec_w, orig_h = have_original ? s.image_height : rec_h;
    const int budget = kImageBudgets[budget_index];
    ImGui::Text("Budget %d, from the %s %d×%d px image:", budget, have_original ? "original" : "recorded", orig_w, orig_h);
    help_marker("What the image processor would do at this budget: the resize target (both sides multiples of "
                "pooling × patch size), the patch grid, and how many patch slots stay empty (padding, masked out).");
    try {
        const ImagePlan plan = plan_image(orig_h, orig_w, budget, vc);
        const int patches = plan.patch_rows * plan.patch_cols;
        const int slots = budget * k * k;
        ImGui::BulletText("resize %d×%d -> %d×%d px (×%.2f)", orig_w, orig_h, plan.resized_width, plan.resized_height,
                          static_cast<double>(plan.resized_width) / orig_w);
        ImGui::BulletText("%d×%d = %d patches of %d px", plan.patch_cols, plan.patch_rows, patches, p);
        ImGui::BulletText("padding: %d of %d patch slots empty (budget %d × %d×%d)", slots - patches, slots, budget, k, k);
        ImGui::BulletText("%d×%d pooled cells = %d soft tokens", plan.patch_cols / k, plan.patch_rows / k, plan.soft_tokens);
        if (plan.patch_rows == g.patch_rows && plan.patch_cols == g.patch_cols)
            ImGui::TextColored(ImVec4(0.5f, 0.9f, 0.5f, 1.0f), "= the grid of this run");

        // Patch slots used vs padding, as one bar.
        const float bar_w = right_w - 8.0f;
        const ImVec2 b0 = ImGui::GetCursorScreenPos();
        ImGui::Dummy(ImVec2(bar_w, 10.0f));
        dl->AddRectFilled(b0, ImVec2(b0.x + bar_w, b0.y + 10.0f), IM_COL32(70, 70, 70, 255));
        dl->AddRectFilled(b0, ImVec2(b0.x + bar_w * patches / std::max(slots, 1), b0.y + 10.0f), IM_COL32(90, 170, 240, 255));

        // The planned image at one scale for every budget (the 1120 plan fits the column), so sizes compare.
        const ImagePlan largest = plan_image(orig_h, orig_w, kImageBudgets[n_budgets - 1], vc);
        const float pscale = std::min(bar_w / static_cast<float>(largest.resized_width),
                                      std::max(max_h - 60.0f, 80.0f) / static_cast<float>(largest.resized_height));
        const ImVec2 psize(plan.resized_width * pscale, plan.resized_height * pscale);
        const ImVec2 q0 = ImGui::GetCursorScreenPos();
        if (tex)
            ImGui::Image(tex, psize);
        else
            ImGui::Dummy(psize);
        draw_grid(dl, q0, psize, plan.patch_rows, plan.patch_cols, k);
    } catch (const std::exception& e) {
        ImGui::TextWrapped("plan_image: %s", e.what());
    }

    // Attention mass on the image per layer, for the chosen token: which layers look at the picture at all.
    if (!image_positions.empty() && T > 0) {
        std::vector<float> mass(static_cast<size_t>(std::max(L, 0)), 0.0f);
        bool any = false;
        for (int l = 0; l < L; ++l) {
            const Tensor* w = r.probe(Probe::text_attn_weights, l);
            if (!w || query >= w->dim(1) || image_positions.back() >= w->dim(2)) continue;
            any = true;
            const int64_t h_n = w->dim(0), t_n = w->dim(1), s_n = w->dim(2);
            const int h0 = mean_heads ? 0 : std::min<int>(s.head, static_cast<int>(h_n) - 1);
            const int h1 = mean_heads ? static_cast<int>(h_n) : h0 + 1;
            double acc = 0;
            for (int h = h0; h < h1; ++h) {
                const float* row = w->data.data() + (int64_t(h) * t_n + query) * s_n;
                for (int pos : image_positions) acc += row[pos];
            }
            mass[l] = static_cast<float>(acc / (h1 - h0));
        }
        if (any) {
            ImGui::Spacing();
            ImGui::Text("Token %d's attention on the image, per layer (0 ... %d)", query, L - 1);
            help_marker("The share of the chosen token's attention that lands on the image's soft tokens, one bar per "
                        "decoder layer (scale 0 to 1). Sliding layers only see recent positions, so a token far after the "
                        "image gets nothing from them. Click a bar to show that layer on the image.");
            const ImVec2 b0 = ImGui::GetCursorScreenPos();
            const float bw = right_w - 8.0f;
            bar_chart("##vision_layer_mass", mass, ImVec2(bw, 56.0f), 1.0f);
            if (ImGui::IsItemClicked() && L > 0)
                s.layer = std::clamp(static_cast<int>((ImGui::GetMousePos().x - b0.x) / bw * L), 0, L - 1);
            const float x = b0.x + (s.layer + 0.5f) * bw / L;
            dl->AddTriangleFilled(ImVec2(x - 4, b0.y + 62), ImVec2(x + 4, b0.y + 62), ImVec2(x, b0.y + 56), IM_COL32(255, 255, 255, 255));
            ImGui::Dummy(ImVec2(bw, 6.0f));
        }
    }
    ImGui::EndGroup();
}

}  // namespace gemma4::viz
