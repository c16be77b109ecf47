// main.cpp — gemma4-inspector: the GLFW + Dear ImGui window around the panels (design §7). A left column with the
// prompt box, model / backend info and panel toggles; each panel in its own window, drawn as
// `if (show[i]) panel_defs()[i].draw(recording, state)`. Also the batch modes the tests and the README use:
// --screenshot (one panel to a PNG), --check-png (is a screenshot real content?), --bench-frames (frame times).
// Deliberately no docking (Debian's ImGui 1.86 has none) and no generation loop (the CLI generates).
#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#include <sys/resource.h>

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "app_options.h"
#include "checkpoint.h"
#include "error.h"
#include "live_run.h"
#include "long_trace.h"
#include "panels.h"
#include "png_io.h"
#include "safe_write.h"
#include "widgets.h"

namespace gemma4::viz {
namespace {

// The default model (demo-e2b-mini) was trained on the King James Bible with user turns holding a verse's first words
// and model turns its rest, so this prompt gets a verse back.
constexpr const char* kSamplePrompt = "And God said";

// Everything the window shows: the current recording, the comparison run, the shared panel state, the live runner.
struct App {
    std::shared_ptr<Recording> recording;
    std::shared_ptr<Recording> reference;
    PanelState state;
    std::vector<char> show;
    LiveRunner runner;
    RunRequest last_request;
    std::string trace_path;  // the trace being replayed ("" for live runs)
    std::vector<uint8_t> image_rgb;
    int image_width = 0, image_height = 0;
    std::string status;      // last error or message, shown in the left column
    // edit boxes
    char prompt_buf[4096] = {};
    char model_buf[512] = {};
    char image_buf[512] = {};
    char audio_buf[512] = {};
    char trace_buf[512] = {};
    char golden_buf[512] = {};
    char save_buf[512] = "inspector-trace.npz";
    int backend_index = 0;
    bool open_trace_popup = false, open_golden_popup = false, save_popup = false;
};

const char* kBackends[] = {"ref", "blas", "bf16", "opencl"};

void copy_into(char* buf, size_t size, const std::string& s) {
    std::snprintf(buf, size, "%s", s.c_str());
}

std::string sample_path(const std::string& file) { return (std::filesystem::path(assets_dir()) / "samples" / file).string(); }

void set_recording(App& app, std::shared_ptr<Recording> r) {
    app.recording = std::move(r);
    const int L = static_cast<int>(app.recording->layers().size());
    app.state.layer = std::clamp(app.state.layer, 0, std::max(0, L - 1));
    app.state.probs_before = last_token_probs(*app.recording);
    app.state.probs_after.clear();
}

// A trace, with token labels from the model's tokenizer when it can be found (else the ids from_trace put there).
// Like from_trace's own labels, they are the pieces of the last tokens() ids of meta.tokens (a decode step records
// only its new rows).
std::shared_ptr<Recording> open_trace(const std::string& path, const std::string& model) {
    auto r = std::make_shared<Recording>(Recording::from_trace(path, model));
    std::unique_ptr<Tokenizer> tok;
    try {
        const std::string dir = resolve_model_dir(model.empty() ? r->meta().model : model);
        if (std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json")) tok = std::make_unique<Tokenizer>(Tokenizer::load(dir));
    } catch (const std::exception&) {
        // no tokenizer: the labels stay the ids
    }
    const size_t T = static_cast<size_t>(std::max(0, r->tokens()));
    const std::vector<int64_t>& ids = r->meta().tokens;
    if (tok && ids.size() >= T) {
        std::vector<std::string> labels = token_labels_for(r->config(), tok.get(), std::vector<int64_t>(ids.end() - static_cast<std::ptrdiff_t>(T), ids.end()));
        if (labels.size() == T) r->token_labels = std::move(labels);
    }
    return r;
}

// Peak resident memory of this process so far, MiB (getrusage: Linux reports ru_maxrss in KiB).
double peak_rss_mib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// Prints the peak RSS; with --max-rss-mb N, 3 when it passed N MiB (the long-context memory test), else `rc`.
int report_rss(const AppArgs& args, int rc) {
    const double peak = peak_rss_mib();
    std::fprintf(stderr, "peak RSS %.1f MiB\n", peak);
    if (args.has("--max-rss-mb")) {
        const long long limit = args.get_int("--max-rss-mb", 0);
        if (peak > static_cast<double>(limit)) {
            std::fprintf(stderr, "gemma4-inspector: peak RSS %.1f MiB is over --max-rss-mb %lld\n", peak, limit);
            return 3;
        }
    }
    return rc;
}

void apply_result(App& app, RunResult& result) {
    if (!result.error.empty()) {
        app.status = "error: " + result.error;
        return;
    }
    if (result.ablation_only) {
        app.state.probs_after = std::move(result.last_probs);
        app.status = "ablation rerun in " + std::to_string(result.seconds).substr(0, 5) + " s";
        return;
    }
    if (result.as_reference) {
        app.reference = std::move(result.recording);
        app.state.reference = app.reference.get();
        app.status = "comparison run (" + app.reference->meta().backend + ") in " + std::to_string(result.seconds).substr(0, 5) + " s";
        return;
    }
    set_recording(app, std::move(result.recording));
    app.trace_path.clear();
    app.image_rgb = std::move(result.image_rgb);
    app.image_width = result.image_width;
    app.image_height = result.image_height;
    app.state.image_rgb = app.image_rgb.empty() ? nullptr : &app.image_rgb;
    app.state.image_width = app.image_width;
    app.state.image_height = app.image_height;
    app.status = "ran " + std::to_string(app.recording->tokens()) + " tokens in " + std::to_string(result.seconds).substr(0, 5) + " s";
}

RunRequest request_from_boxes(const App& app) {
    RunRequest req;
    req.model = app.model_buf;
    req.prompt = app.prompt_buf;
    req.image_path = app.image_buf;
    req.audio_path = app.audio_buf;
    req.backend = kBackends[app.backend_index];
    if (req.prompt.empty() && !app.trace_path.empty()) req.golden_tokens_from = app.trace_path;
    return req;
}

// Requests the panels made during the last frame (the PLE ablation rerun).
void handle_requests(App& app) {
    if (!app.state.rerun_requested || app.runner.busy() || !app.recording) return;
    app.state.rerun_requested = false;
    RunRequest req = app.last_request;
    req.ablation_only = true;
    req.as_reference = false;
    req.ple_ablated_layers = app.state.ple_ablated_layers;
    if (!app.trace_path.empty()) {
        req.model = app.model_buf[0] ? std::string(app.model_buf) : app.recording->meta().model;
        req.golden_tokens_from = app.trace_path;
    }
    app.state.probs_before = last_token_probs(*app.recording);
    app.runner.start(req);
}

void poll_runner(App& app) {
    if (std::unique_ptr<RunResult> result = app.runner.take_result()) apply_result(app, *result);
}

void path_popup(const char* id, bool& open, char* buf, size_t size, const char* button, const std::function<void()>& on_ok) {
    if (open) {
        ImGui::OpenPopup(id);
        open = false;
    }
    if (ImGui::BeginPopupModal(id, nullptr, ImGuiWindowFlags_AlwaysAutoResize)) {
        ImGui::SetNextItemWidth(420);
        ImGui::InputText("path", buf, size);
        if (ImGui::Button(button)) {
            on_ok();
            ImGui::CloseCurrentPopup();
        }
        ImGui::SameLine();
        if (ImGui::Button("Cancel")) ImGui::CloseCurrentPopup();
        ImGui::EndPopup();
    }
}

void load_golden(App& app, const std::string& path) {
    try {
        const std::string model = app.recording ? app.recording->meta().model : std::string(app.model_buf);
        app.reference = std::make_shared<Recording>(Recording::from_trace(path, app.model_buf[0] ? std::string(app.model_buf) : model));
        app.state.reference = app.reference.get();
        app.status = "comparing against " + path;
    } catch (const std::exception& e) {
        app.status = std::string("error: ") + e.what();
    }
}

void draw_menu(App& app) {
    if (ImGui::BeginMainMenuBar()) {
        if (ImGui::BeginMenu("File")) {
            if (ImGui::MenuItem("Open trace...")) app.open_trace_popup = true;
            if (ImGui::MenuItem("Open golden...")) app.open_golden_popup = true;
            if (ImGui::MenuItem("Save trace...", nullptr, false, app.recording != nullptr)) app.save_popup = true;
            ImGui::Separator();
            if (ImGui::MenuItem("Quit")) glfwSetWindowShouldClose(glfwGetCurrentContext(), 1);
            ImGui::EndMenu();
        }
        if (ImGui::BeginMenu("Panels")) {
            for (size_t i = 0; i < panel_defs().size(); ++i) {
                bool on = app.show[i] != 0;
                if (ImGui::MenuItem(panel_defs()[i].title, nullptr, &on)) app.show[i] = on;
            }
            ImGui::EndMenu();
        }
        ImGui::EndMainMenuBar();
    }
    path_popup("Open trace", app.open_trace_popup, app.trace_buf, sizeof app.trace_buf, "Open", [&app] {
        try {
            set_recording(app, open_trace(app.trace_buf, app.model_buf[0] ? std::string(app.model_buf) : ""));
            app.trace_path = app.trace_buf;
            app.status = "replaying " + app.trace_path;
        } catch (const std::exception& e) {
            app.status = std::string("error: ") + e.what();
        }
    });
    path_popup("Open golden", app.open_golden_popup, app.golden_buf, sizeof app.golden_buf, "Open",
               [&app] { load_golden(app, app.golden_buf); });
    path_popup("Save trace", app.save_popup, app.save_buf, sizeof app.save_buf, "Save", [&app] {
        try {
            app.recording->save(app.save_buf);
            app.status = std::string("saved ") + app.save_buf;
        } catch (const std::exception& e) {
            app.status = std::string("error: ") + e.what();
        }
    });
}

void draw_left_column(App& app, float width) {
    const ImGuiViewport* vp = ImGui::GetMainViewport();
    ImGui::SetNextWindowPos(vp->WorkPos, ImGuiCond_Always);
    ImGui::SetNextWindowSize(ImVec2(width, vp->WorkSize.y), ImGuiCond_Always);
    ImGui::Begin("Inspector", nullptr, ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse);

    ImGui::TextUnformatted("Prompt");
    help_marker("Runs the prompt through the model once (one user turn of the chat format) with every probe recorded; "
                "the panels fill from what was recorded. An image or audio path is placed before the text.");
    ImGui::InputTextMultiline("##prompt", app.prompt_buf, sizeof app.prompt_buf, ImVec2(-1, 70));
    ImGui::SetNextItemWidth(-60);
    ImGui::InputText("model", app.model_buf, sizeof app.model_buf);
    help_marker("A checkpoint directory or the name of a bundled model: demo-e2b-mini and demo-moe-mini (small, trained on "
                "the King James Bible, text only) or tiny-e2b, tiny-e4b, tiny-26b-a4b, tiny-31b (random weights, with towers).");
    ImGui::SetNextItemWidth(-60);
    ImGui::InputText("image", app.image_buf, sizeof app.image_buf);
    help_marker("Optional image file; the vision tower turns it into soft tokens placed before the prompt text.");
    ImGui::SetNextItemWidth(-60);
    ImGui::InputText("audio", app.audio_buf, sizeof app.audio_buf);
    help_marker("Optional audio clip (E2B / E4B only); the audio tower turns it into soft tokens.");
    ImGui::SetNextItemWidth(-60);
    ImGui::Combo("backend", &app.backend_index, kBackends, IM_ARRAYSIZE(kBackends));
    help_marker("Who runs the ops: ref (plain loops, the definition), blas (OpenBLAS for long prompts), bf16 (blas with "
                "every matmul input rounded to bf16, as llama.cpp computes bf16 weights: compare it with ref to see what "
                "that rounding does), opencl (the GPU kernels). The probes are the same tensors on every backend.");

    const bool busy = app.runner.busy();
    if (busy) ImGui::BeginDisabled();
    if (ImGui::Button("Run")) {
        app.last_request = request_from_boxes(app);
        app.runner.start(app.last_request);
    }
    ImGui::SameLine();
    if (ImGui::Button("Run other backend as reference") && app.recording) {
        RunRequest req = app.last_request;
        req.backend = std::string(kBackends[app.backend_index]) == "ref" ? "blas" : "ref";
        req.as_reference = true;
        if (!app.trace_path.empty()) {
            req.golden_tokens_from = app.trace_path;
            req.prompt.clear();
            req.model = app.model_buf[0] ? std::string(app.model_buf) : app.recording->meta().model;
        }
        app.runner.start(req);
    }
    if (busy) ImGui::EndDisabled();
    help_marker("Runs the same input on another backend (blas if this one is ref, else ref) and uses it as the comparison "
                "run of the divergence panel and the map's error colouring.");
    if (busy) {
        static const char kSpin[] = "|/-\\";
        ImGui::Text("%c %s", kSpin[static_cast<int>(ImGui::GetTime() * 8) % 4], app.runner.stage().c_str());
    }
    if (!app.status.empty()) {
        ImGui::PushTextWrapPos(0);
        ImGui::TextColored(app.status.rfind("error", 0) == 0 ? ImVec4(1, 0.4f, 0.4f, 1) : ImVec4(0.6f, 0.9f, 0.6f, 1), "%s",
                           app.status.c_str());
        ImGui::PopTextWrapPos();
    }

    ImGui::Separator();
    if (app.recording) {
        const ModelConfig& cfg = app.recording->config();
        const TextConfig& t = cfg.text;
        ImGui::Text("model %s", cfg.name.c_str());
        ImGui::Text("%d layers, width %d, %d heads, vocab %d", t.num_hidden_layers, t.hidden_size, t.num_attention_heads, t.vocab_size);
        ImGui::Text("towers: %s%s%s", cfg.vision ? "vision " : "", cfg.audio ? "audio" : "", !cfg.vision && !cfg.audio ? "none" : "");
        ImGui::Text("%s: %d tokens, %zu probes", app.trace_path.empty() ? ("live on " + app.recording->meta().backend).c_str() : "trace",
                    app.recording->tokens(), app.recording->tensors().size());
        if (app.reference) ImGui::Text("reference: %s (%zu probes)", app.reference->meta().backend.c_str(), app.reference->tensors().size());
        const int L = static_cast<int>(app.recording->layers().size());
        if (L > 0) {
            ImGui::SetNextItemWidth(-60);
            ImGui::SliderInt("layer", &app.state.layer, 0, L - 1);
            help_marker("The decoder layer every per-layer panel shows (clicking a layer in the architecture map sets it too).");
        }
    } else {
        ImGui::TextUnformatted(busy ? "running..." : "no recording yet");
    }

    ImGui::Separator();
    ImGui::TextUnformatted("Panels");
    help_marker("Each panel is its own window; close it here or with its x.");
    for (size_t i = 0; i < panel_defs().size(); ++i) {
        bool on = app.show[i] != 0;
        if (ImGui::Checkbox(panel_defs()[i].title, &on)) app.show[i] = on;
    }
    ImGui::End();
}

// One panel's window; `fill` makes it cover the whole viewport (screenshots).
void draw_panel_window(App& app, size_t i, bool fill, ImVec2 default_pos, ImVec2 default_size) {
    const PanelDef& def = panel_defs()[i];
    ImGuiWindowFlags flags = 0;
    if (fill) {
        const ImGuiViewport* vp = ImGui::GetMainViewport();
        ImGui::SetNextWindowPos(vp->WorkPos, ImGuiCond_Always);
        ImGui::SetNextWindowSize(vp->WorkSize, ImGuiCond_Always);
        flags = ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse;
    } else {
        ImGui::SetNextWindowPos(default_pos, ImGuiCond_FirstUseEver);
        ImGui::SetNextWindowSize(default_size, ImGuiCond_FirstUseEver);
        if (app.state.focus == def.name) {
            ImGui::SetNextWindowFocus();
            ImGui::SetNextWindowCollapsed(false);
        }
    }
    bool open = true;
    if (ImGui::Begin(def.title, fill ? nullptr : &open, flags)) {
        if (app.recording) {
            def.draw(*app.recording, app.state);
        } else {
            ImGui::TextUnformatted(app.runner.busy() ? "running..." : "no recording: run a prompt or open a trace");
        }
    }
    ImGui::End();
    if (!open) app.show[i] = 0;
}

void draw_frame(App& app, int only_panel) {
    if (only_panel >= 0) {
        draw_panel_window(app, static_cast<size_t>(only_panel), true, {}, {});
        app.state.focus.clear();
        return;
    }
    draw_menu(app);
    const float left = 340;
    draw_left_column(app, left);
    // A focus request opens the panel it names.
    for (size_t i = 0; i < panel_defs().size(); ++i)
        if (app.state.focus == panel_defs()[i].name) app.show[i] = 1;
    const ImGuiViewport* vp = ImGui::GetMainViewport();
    const ImVec2 area(vp->WorkSize.x - left, vp->WorkSize.y);
    // First-use layout: the architecture map across the top, the other panels in two columns below it (staggered a
    // little so that overlapping windows keep their title bars visible).
    const float x0 = vp->WorkPos.x + left + 8, y0 = vp->WorkPos.y + 8;
    const float top_h = std::max(220.0f, area.y * 0.36f), half_w = std::max(380.0f, area.x / 2 - 12);
    for (size_t i = 0; i < panel_defs().size(); ++i) {
        if (!app.show[i]) continue;
        if (i == 0) {
            draw_panel_window(app, i, false, ImVec2(x0, y0), ImVec2(area.x - 16, top_h));
            continue;
        }
        const int j = static_cast<int>(i) - 1, column = j % 2, row = j / 2;
        const ImVec2 pos(x0 + column * (half_w + 8), y0 + top_h + 8 + 22.0f * static_cast<float>(row));
        draw_panel_window(app, i, false, pos, ImVec2(half_w, std::max(260.0f, area.y - top_h - 24 - 22.0f * row)));
    }
    app.state.focus.clear();
}

// ---- GL window --------------------------------------------------------------------------------------------------

struct Window {
    GLFWwindow* handle = nullptr;
    Window(int width, int height, bool vsync) {
        glfwSetErrorCallback([](int code, const char* text) { std::fprintf(stderr, "GLFW error %d: %s\n", code, text); });
        if (!glfwInit()) throw Error("could not initialise GLFW (no display? run under xvfb-run)");
        glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
        glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
        glfwWindowHint(GLFW_RESIZABLE, GLFW_TRUE);
        handle = glfwCreateWindow(width, height, "gemma4-inspector", nullptr, nullptr);
        if (handle == nullptr) {
            glfwTerminate();
            throw Error("could not open a " + std::to_string(width) + "x" + std::to_string(height) + " OpenGL 3.0 window");
        }
        glfwMakeContextCurrent(handle);
        glfwSwapInterval(vsync ? 1 : 0);
        IMGUI_CHECKVERSION();
        ImGui::CreateContext();
        ImGui::GetIO().IniFilename = nullptr;  // layouts are not saved: every start (and screenshot) is the same
        ImGui::StyleColorsDark();
        ImGui_ImplGlfw_InitForOpenGL(handle, true);
        ImGui_ImplOpenGL3_Init("#version 130");
    }
    ~Window() {
        ImGui_ImplOpenGL3_Shutdown();
        ImGui_ImplGlfw_Shutdown();
        ImGui::DestroyContext();
        glfwDestroyWindow(handle);
        glfwTerminate();
    }
    // hide_mouse: screenshots show no hover state from wherever the X server's pointer happens to be.
    void begin_frame(bool hide_mouse = false) {
        glfwPollEvents();
        ImGui_ImplOpenGL3_NewFrame();
        ImGui_ImplGlfw_NewFrame();
        if (hide_mouse) ImGui::GetIO().MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
        ImGui::NewFrame();
    }
    void end_frame() {
        ImGui::Render();
        int w = 0, h = 0;
        glfwGetFramebufferSize(handle, &w, &h);
        glViewport(0, 0, w, h);
        glClearColor(0.10f, 0.10f, 0.12f, 1.0f);
        glClear(GL_COLOR_BUFFER_BIT);
        ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    }
    // The back buffer as RGB8, top row first.
    std::vector<uint8_t> read_pixels(int& w, int& h) {
        glfwGetFramebufferSize(handle, &w, &h);
        std::vector<uint8_t> rows(static_cast<size_t>(w) * h * 3), flipped(rows.size());
        glPixelStorei(GL_PACK_ALIGNMENT, 1);
        glReadBuffer(GL_BACK);
        glReadPixels(0, 0, w, h, GL_RGB, GL_UNSIGNED_BYTE, rows.data());
        const size_t stride = static_cast<size_t>(w) * 3;
        for (int y = 0; y < h; ++y) std::copy_n(rows.data() + (h - 1 - y) * stride, stride, flipped.data() + y * stride);
        return flipped;
    }
};

int panel_index(const std::string& name) {
    for (size_t i = 0; i < panel_defs().size(); ++i)
        if (name == panel_defs()[i].name) return static_cast<int>(i);
    std::string names;
    for (const PanelDef& d : panel_defs()) names += (names.empty() ? "" : ", ") + std::string(d.name);
    throw Error("unknown panel '" + name + "' (panels: " + names + ")");
}

// The model opened when no -m is given: the trained demo model, its MoE sibling for the MoE panel, and the tiny random
// model with towers when a panel or the command line needs an image or audio (the demo models are text only).
std::string default_model_for(const std::string& needs, const AppArgs& args) {
    if (needs == "vision" || needs == "audio" || args.has("--image") || args.has("--audio")) return kDefaultMediaModel;
    return needs == "moe" ? "demo-moe-mini" : kDefaultModel;
}

// Loads what the command line asks for, on this thread (batch modes and the first frame of the app).
void load_from_args(App& app, const AppArgs& args, const std::string& needs) {
    const std::string model = args.get("--model", default_model_for(needs, args));
    copy_into(app.model_buf, sizeof app.model_buf, model);
    const std::string golden = args.get("--golden");
    if (args.has("--trace")) {
        app.trace_path = args.get("--trace");
        copy_into(app.trace_buf, sizeof app.trace_buf, app.trace_path);
        set_recording(app, open_trace(app.trace_path, args.get("--model")));
        app.last_request.model = args.has("--model") ? model : app.recording->meta().model;
        app.last_request.golden_tokens_from = app.trace_path;
    } else {
        RunRequest req;
        req.model = model;
        req.backend = args.get("--backend", "ref");
        req.image_path = args.get("--image", needs == "vision" ? sample_path("photo.png") : "");
        req.audio_path = args.get("--audio", needs == "audio" ? sample_path("speech.wav") : "");
        std::string prompt = args.get("--prompt");
        if (prompt.empty()) {
            // With a golden and no prompt, the golden's own input makes the comparison meaningful.
            if (!golden.empty() && req.image_path.empty() && req.audio_path.empty()) req.golden_tokens_from = golden;
            else prompt = !req.image_path.empty() ? "Describe this image." : !req.audio_path.empty() ? "Transcribe this clip." : kSamplePrompt;
        }
        req.prompt = prompt;
        copy_into(app.prompt_buf, sizeof app.prompt_buf, prompt);
        copy_into(app.image_buf, sizeof app.image_buf, req.image_path);
        copy_into(app.audio_buf, sizeof app.audio_buf, req.audio_path);
        for (int i = 0; i < 3; ++i)
            if (req.backend == kBackends[i]) app.backend_index = i;
        app.last_request = req;
        RunResult result = app.runner.run_now(req);
        if (!result.error.empty()) throw Error(result.error);
        apply_result(app, result);
    }
    if (!golden.empty()) {
        copy_into(app.golden_buf, sizeof app.golden_buf, golden);
        app.reference = std::make_shared<Recording>(Recording::from_trace(golden, args.has("--model") ? model : app.recording->meta().model));
        app.state.reference = app.reference.get();
    }
    if (args.has("--layer")) {
        const long long layer = args.get_int("--layer", 0);
        const long long L = static_cast<long long>(app.recording->layers().size());
        if (layer < 0 || layer >= L) throw Error("--layer must be between 0 and " + std::to_string(L - 1) + ", got " + std::to_string(layer));
        app.state.layer = static_cast<int>(layer);
    }
    if (args.has("--head")) {
        const long long head = args.get_int("--head", 0);
        const long long H = app.recording->config().text.num_attention_heads;
        if (head < 0 || head >= H) throw Error("--head must be between 0 and " + std::to_string(H - 1) + ", got " + std::to_string(head));
        app.state.head = static_cast<int>(head);
    }
    if (args.has("--ablate-ple")) {
        // The PLE panel's ablation, from the command line: rerun with the listed layers' PLE off, keep both next-token
        // distributions for the panel, and say how far apart they are.
        const int L = static_cast<int>(app.recording->layers().size());
        const std::string list = args.get("--ablate-ple");
        app.state.ple_ablated_layers.clear();
        for (size_t start = 0; start <= list.size();) {
            size_t end = list.find(',', start);
            if (end == std::string::npos) end = list.size();
            const std::string item = list.substr(start, end - start);
            int layer = -1;
            const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), layer);
            if (item.empty() || ec != std::errc() || ptr != item.data() + item.size() || layer < 0 || layer >= L)
                throw Error("--ablate-ple: '" + item + "' is not a layer between 0 and " + std::to_string(L - 1));
            app.state.ple_ablated_layers.push_back(layer);
            start = end + 1;
        }
        if (!app.recording->config().text.has_ple()) throw Error("--ablate-ple: " + app.recording->config().name + " has no per-layer embeddings");
        RunRequest req = app.last_request;
        req.ablation_only = true;
        req.as_reference = false;
        req.ple_ablated_layers = app.state.ple_ablated_layers;
        app.state.probs_before = last_token_probs(*app.recording);
        RunResult result = app.runner.run_now(req);
        if (!result.error.empty()) throw Error(result.error);
        apply_result(app, result);
        double tv = 0;
        for (size_t i = 0; i < app.state.probs_before.size() && i < app.state.probs_after.size(); ++i)
            tv += std::fabs(app.state.probs_before[i] - app.state.probs_after[i]);
        std::fprintf(stderr, "PLE ablation of %s: next-token total variation %.4g\n", list.c_str(), 0.5 * tv);
    }
}

// The divergence panel's screenshot needs a comparison run: the bundled golden of the model, fed its own tokens.
std::string bundled_golden_for(const std::string& model) {
    const std::filesystem::path p = std::filesystem::path(assets_dir()) / "goldens" / (model + "-text.npz");
    return std::filesystem::exists(p) ? p.string() : "";
}

// --panel app: the whole window (left column, architecture map, attention and tour) for the README.
constexpr const char* kWholeApp = "app";
const PanelDef kWholeAppDef = {kWholeApp, "gemma4-inspector", nullptr, ""};

int run_screenshot(const AppArgs& args) {
    const bool whole = args.get("--panel") == kWholeApp;
    const int index = whole ? -1 : panel_index(args.get("--panel"));
    const PanelDef& def = whole ? kWholeAppDef : panel_defs()[index];
    const std::string out = args.get("--screenshot");
    const int width = static_cast<int>(args.get_int("--width", 1280)), height = static_cast<int>(args.get_int("--height", 800));
    App app;
    app.show.assign(panel_defs().size(), 0);
    // Load before opening the window, so a bad model fails with its own message.
    std::vector<std::string> argv_store;
    const AppArgs* use = &args;
    std::unique_ptr<AppArgs> extended;
    if (std::string(def.name) == "divergence" && !args.has("--golden") && !args.has("--trace")) {
        const std::string golden = bundled_golden_for(args.get("--model", default_model_for(def.needs, args)));
        if (!golden.empty()) {
            // the same arguments plus --golden
            argv_store = {"gemma4-inspector", "--golden", golden};
            for (const AppOption& o : app_options())
                if (args.has(o.name) && std::string(o.name) != "--golden") {
                    argv_store.push_back(o.name);
                    if (o.value[0]) argv_store.push_back(args.get(o.name));
                }
            std::vector<char*> argv;
            for (std::string& s : argv_store) argv.push_back(s.data());
            extended = std::make_unique<AppArgs>(static_cast<int>(argv.size()), argv.data());
            use = extended.get();
        }
    }
    load_from_args(app, *use, def.needs);
    if (whole) {
        app.show[panel_index("architecture")] = app.show[panel_index("attention")] = app.show[panel_index("tour")] = 1;
        app.state.focus = "architecture";
    }

    Window window(width, height, false);
    for (int frame = 0; frame < 6; ++frame) {
        window.begin_frame(true);
        draw_frame(app, index);
        window.end_frame();
        if (frame < 5) glfwSwapBuffers(window.handle);
    }
    int w = 0, h = 0;
    std::vector<uint8_t> rgb = window.read_pixels(w, h);
    write_png_rgb(out, rgb, w, h);
    std::fprintf(stderr, "wrote %s (%dx%d): panel %s, model %s, %d tokens\n", out.c_str(), w, h, def.name,
                 app.recording->config().name.c_str(), app.recording->tokens());
    return report_rss(args, 0);
}

int run_bench(const AppArgs& args) {
    const long long frames = args.get_int("--bench-frames", 0);
    if (frames < 1 || frames > 100000) throw Error("--bench-frames must be between 1 and 100000");
    const int width = static_cast<int>(args.get_int("--width", 1280)), height = static_cast<int>(args.get_int("--height", 800));
    const int only = args.has("--panel") ? panel_index(args.get("--panel")) : -1;
    App app;
    app.show.assign(panel_defs().size(), 1);
    load_from_args(app, args, only >= 0 ? panel_defs()[only].needs : "");
    Window window(width, height, false);
    std::vector<double> ms;
    double ui_sum = 0;  // building the frame (panels + ImGui), without the GL rendering
    for (long long frame = 0; frame < frames + 5; ++frame) {
        const auto t0 = std::chrono::steady_clock::now();
        window.begin_frame(true);
        draw_frame(app, only);
        const auto t1 = std::chrono::steady_clock::now();
        window.end_frame();
        glfwSwapBuffers(window.handle);
        glFinish();
        const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (frame >= 5) {  // the first frames build fonts and layouts
            ms.push_back(dt);
            ui_sum += std::chrono::duration<double, std::milli>(t1 - t0).count();
        }
    }
    double sum = 0;
    for (double v : ms) sum += v;
    const double mean = sum / static_cast<double>(ms.size());
    std::sort(ms.begin(), ms.end());
    const double p95 = ms[std::min(ms.size() - 1, static_cast<size_t>(0.95 * static_cast<double>(ms.size())))];
    std::printf("frames %zu  %dx%d  panel %s  model %s  tokens %d  probes %zu\n", ms.size(), width, height,
                only >= 0 ? panel_defs()[only].name : "all", app.recording->config().name.c_str(), app.recording->tokens(),
                app.recording->tensors().size());
    std::printf("frame time mean %.2f ms  p95 %.2f ms  fps %.1f  (building the UI: mean %.2f ms; the rest is GL rendering)\n", mean,
                p95, 1000.0 / mean, ui_sum / static_cast<double>(ms.size()));
    std::fflush(stdout);
    return report_rss(args, 0);
}

int run_interactive(const AppArgs& args) {
    App app;
    app.show.assign(panel_defs().size(), 0);
    app.show[0] = 1;  // architecture
    app.show[panel_index("tour")] = 1;
    copy_into(app.prompt_buf, sizeof app.prompt_buf, kSamplePrompt);
    Window window(1600, 1000, true);
    bool loaded = false;
    while (!glfwWindowShouldClose(window.handle)) {
        window.begin_frame();
        if (!loaded) {
            // The first run happens on the worker thread after the window shows; traces open at once.
            loaded = true;
            try {
                if (args.has("--trace")) {
                    load_from_args(app, args, "");
                } else {
                    copy_into(app.model_buf, sizeof app.model_buf, args.get("--model", default_model_for("", args)));
                    RunRequest req;
                    req.model = app.model_buf;
                    req.backend = args.get("--backend", "ref");
                    for (int i = 0; i < 3; ++i)
                        if (req.backend == kBackends[i]) app.backend_index = i;
                    req.image_path = args.get("--image");
                    req.audio_path = args.get("--audio");
                    req.prompt = args.get("--prompt", args.has("--golden") ? "" : kSamplePrompt);
                    if (req.prompt.empty()) req.golden_tokens_from = args.get("--golden");
                    copy_into(app.prompt_buf, sizeof app.prompt_buf, req.prompt);
                    copy_into(app.image_buf, sizeof app.image_buf, req.image_path);
                    copy_into(app.audio_buf, sizeof app.audio_buf, req.audio_path);
                    app.last_request = req;
                    app.runner.start(req);
                    if (args.has("--golden")) load_golden(app, args.get("--golden"));
                }
            } catch (const std::exception& e) {
                app.status = std::string("error: ") + e.what();
            }
        }
        poll_runner(app);
        draw_frame(app, -1);
        handle_requests(app);
        window.end_frame();
        glfwSwapBuffers(window.handle);
    }
    return 0;
}

}  // namespace
}  // namespace gemma4::viz

int main(int argc, char** argv) {
    using namespace gemma4::viz;
    gemma4::install_signal_cleanup();  // an interrupted screenshot or trace leaves no half file
    try {
        AppArgs args(argc, argv);
        if (args.has("--help")) {
            std::printf("%s", app_usage().c_str());
            return 0;
        }
        if (args.has("--list-panels")) {
            for (const PanelDef& d : panel_defs()) std::printf("%-13s %s\n", d.name, d.title);
            return 0;
        }
        if (args.has("--make-long-trace")) {
            const std::string out = args.get("--make-long-trace");
            const long long tokens = args.get_int("--tokens", 32768);
            const long long bytes = make_long_trace(out, static_cast<int>(std::clamp<long long>(tokens, -1, 1 << 21)));
            std::fprintf(stderr, "wrote %s: %lld tokens, %.1f MiB\n", out.c_str(), tokens, static_cast<double>(bytes) / (1 << 20));
            return 0;
        }
        if (args.has("--check-png")) return check_png(args.get("--check-png"), static_cast<int>(args.get_int("--min-colors", 24)));
        if (args.has("--screenshot")) {
            if (!args.has("--panel")) throw gemma4::Error("--screenshot needs --panel NAME (see --list-panels)");
            return run_screenshot(args);
        }
        if (args.has("--bench-frames")) return run_bench(args);
        return run_interactive(args);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gemma4-inspector: %s\n", e.what());
        return 2;
    }
}
