"""The Gradient lab: the seed's two examples, the three derivatives, the error-vs-h V, the
backward pass step by step, compute / edit / apply, refusals through settings and the
CLI, and the lab view drawing the engine's numbers."""

import math
import subprocess
import sys

import numpy as np
import pytest

import engine as en
from engine import expressions
from engine.experiments import SettingError, apply_settings, settings_of
from engine.experiments import gradients as lab


def run_all(**settings) -> list:
    config = lab.Config()
    apply_settings(config, settings)
    return list(lab.run(config))


# -- the seed's examples (docs/labs.md, "Gradients") -------------------------------------------

def test_preset_2x_minus_y_gives_2_and_minus_1():
    snap = run_all(preset="2*x - y")[-1]
    assert snap.expression == "2*x - y" and snap.values == (1.0, 2.0)
    assert snap.variables == ("x", "y")
    assert snap.automatic.tolist() == [2.0, -1.0]
    assert snap.symbolic.tolist() == [2.0, -1.0]
    np.testing.assert_allclose(snap.numerical, [2.0, -1.0], atol=1e-9)
    assert snap.output == 0.0


def test_preset_sin_x_minus_y_cubed_gives_cos3_and_minus_75():
    snap = run_all(preset="sin(x) - y**3")[-1]
    assert snap.values == (3.0, 5.0)
    assert np.round(snap.automatic, 7).tolist() == [-0.9899925, -75.0]
    np.testing.assert_allclose(snap.automatic, [math.cos(3.0), -75.0], rtol=1e-15)
    np.testing.assert_allclose(snap.symbolic, [math.cos(3.0), -75.0], rtol=1e-14)
    assert snap.symbolic_text == ("cos(x)", "-3*y**2")
    assert snap.output == pytest.approx(math.sin(3.0) - 125.0, rel=1e-15)


def test_default_settings_are_the_seed_example():
    config = lab.Config()
    assert config.resolved() == ("sin(x) - y**3", "x=3, y=5")
    snap = next(lab.run(config))
    np.testing.assert_allclose(snap.automatic, [math.cos(3.0), -75.0], rtol=1e-15)


# -- three derivatives ---------------------------------------------------------------------

def test_numerical_matches_automatic_for_a_good_h():
    snap = run_all(log10_h=-5.0)[0]
    assert snap.h == pytest.approx(1e-5)
    np.testing.assert_allclose(snap.numerical, snap.automatic, rtol=0, atol=1e-8)
    # and a bad h is visibly worse: truncation error ~ h**2 (d/dy of y**3 errs by h**2)
    bad = run_all(log10_h=-1.0)[0]
    assert abs(bad.numerical[1] - bad.automatic[1]) == pytest.approx(0.01, rel=1e-6)


def test_error_vs_h_is_a_v_with_its_minimum_at_an_intermediate_h():
    snap = run_all()[0]
    assert snap.h_grid[0] == pytest.approx(1e-12) and snap.h_grid[-1] == pytest.approx(1e-1)
    for errors in snap.h_errors:
        best = int(np.argmin(errors))
        assert 1e-10 < snap.h_grid[best] < 1e-2
        # both arms of the V rise far above the bottom: round-off left, truncation right
        assert errors[0] > 100 * errors[best] and errors[-1] > 100 * errors[best]
    # the h errors are |central difference - en.gradients| computed independently
    expr = expressions.parse("sin(x) - y**3")
    h = snap.h_grid[20]
    direct = lab.numerical_derivatives(expr, {"x": 3.0, "y": 5.0}, h)
    np.testing.assert_array_equal(np.abs(direct - snap.automatic), snap.h_errors[:, 20])


@pytest.mark.parametrize("text,values", [
    ("exp(-x**2/2)", "x=0.8"),
    ("sigmoid(w*x + b)", "w=0.5, x=2, b=-1"),
    ("log(1 + exp(x)) * sqrt(x**2 + y**2)", "x=-0.3, y=1.7"),
    ("tan(x) / (1 + abs(y)) - maximum(x, y)**2", "x=0.4, y=-2"),
])
def test_symbolic_derivative_evaluates_to_the_automatic_one(text, values):
    snap = run_all(expression=text, values=values)[0]
    np.testing.assert_allclose(snap.symbolic, snap.automatic, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(snap.numerical, snap.automatic, rtol=1e-7, atol=1e-9)


def test_f_and_its_derivative_along_a_variable_on_a_grid():
    snap = run_all(x_min=-2.0, x_max=4.0)[0]
    assert snap.curve_variable == "x"
    grid = np.linspace(-2.0, 4.0, lab.CURVE_POINTS)
    np.testing.assert_allclose(snap.curve_x, grid)
    np.testing.assert_allclose(snap.curve_f, np.sin(grid) - 125.0, rtol=1e-14)
    np.testing.assert_allclose(snap.curve_df, np.cos(grid), rtol=1e-14, atol=1e-15)
    along_y = run_all(plot_along="y")[0]
    np.testing.assert_allclose(along_y.curve_df, -3 * along_y.curve_x**2, rtol=1e-14)
    # a name the expression lacks falls back to its first variable
    assert run_all(plot_along="q")[0].curve_variable == "x"


# -- the backward pass, one node per step ---------------------------------------------------

@pytest.mark.parametrize("text,values", [
    ("sin(x) - y**3", "x=3, y=5"),
    ("x * x + sin(x * y)", "x=0.5, y=-1.5"),
    ("sigmoid(w*x + b)", "w=0.5, x=2, b=-1"),
])
def test_stepping_reveals_one_adjoint_per_step_in_reverse_topological_order(text, values):
    snaps = run_all(expression=text, values=values)
    nodes = snaps[0].nodes
    order = snaps[0].reverse_order
    non_constant = [i for i, n in enumerate(nodes) if n.kind != "constant"]
    assert sorted(order) == non_constant
    assert [s.step for s in snaps] == list(range(len(order) + 1))
    for s in snaps:
        shown = [i for i in range(len(nodes)) if s.shown(i)]
        assert len(shown) == s.step
        assert s.current == (order[s.step - 1] if s.step else None)
    # reverse topological: a node is revealed only after every op that consumes it
    position = {node: k for k, node in enumerate(order)}
    for i, node in enumerate(nodes):
        for j in node.inputs:
            if nodes[j].kind != "constant":
                assert position[i] < position[j]
    assert order[0] == len(nodes) - 1 and nodes[-1].adjoint == 1.0
    # each adjoint is the sum of what its consumers send back (their registered gradients)
    for i in order[1:]:
        sent = sum(m[3] for m in snaps[0].messages if m[2] == i)
        assert nodes[i].adjoint == pytest.approx(sent, rel=1e-14)
    # the variables' final adjoints are en.gradients
    expr = expressions.parse(text)
    point = lab.parse_values(values)
    out, variables = expr.evaluate(point)
    expected = en.gradients(out, [variables[n] for n in expr.variables])
    final = snaps[-1]
    for name, grad in zip(expr.variables, expected):
        index = next(i for i, n in enumerate(nodes) if n.kind == "variable" and n.label == name)
        assert final.shown(index)
        assert nodes[index].adjoint == float(grad)


def test_seed_graph_nodes_values_and_adjoints():
    snap = run_all()[-1]
    labels = [n.label for n in snap.nodes]
    assert labels == ["x", "Sin", "y", "3", "Pow", "Sub"]
    by_label = {n.label: n for n in snap.nodes}
    assert by_label["Sin"].value == pytest.approx(math.sin(3.0))
    assert by_label["Pow"].value == 125.0 and by_label["Pow"].adjoint == -1.0
    assert by_label["x"].adjoint == pytest.approx(math.cos(3.0))
    assert by_label["y"].adjoint == -75.0
    assert math.isnan(by_label["3"].adjoint)
    assert by_label["Sin"].rule == "d sin(x) = cos(x) dx."


# -- compute_gradients / edit / apply_gradients ------------------------------------------------

def test_zeroing_x_gradient_leaves_x_unchanged_and_moves_y_by_minus_lr_grad():
    snap = run_all(edit_gradient="zero", edit_variables="x", learning_rate=0.01)[0]
    x0, y0 = snap.values
    np.testing.assert_allclose(snap.grads_computed, [math.cos(3.0), -75.0], rtol=1e-15)
    assert snap.grads_applied.tolist() == [0.0, -75.0]
    assert snap.after_apply[0] == x0
    assert snap.after_apply[1] == pytest.approx(y0 - 0.01 * -75.0, rel=1e-15)  # 5.75
    # minimize = compute + apply with nothing edited: both variables move
    np.testing.assert_allclose(snap.after_minimize, [3.0 - 0.01 * math.cos(3.0), 5.75],
                               rtol=1e-15)
    assert snap.f_after_apply == pytest.approx(math.sin(3.0) - 5.75**3, rel=1e-14)


def test_clip_and_negate_edits_and_no_edit_equals_minimize():
    clipped = run_all(edit_gradient="clip", edit_variables="")[0]
    assert clipped.edited == ("x", "y")
    np.testing.assert_allclose(clipped.grads_applied, [math.cos(3.0), -1.0], rtol=1e-15)
    np.testing.assert_allclose(clipped.after_apply, [3 - 0.01 * math.cos(3.0), 5.01],
                               rtol=1e-15)
    negated = run_all(edit_gradient="negate", edit_variables="y", learning_rate=0.1)[0]
    np.testing.assert_allclose(negated.after_apply, [3 - 0.1 * math.cos(3.0), 5 - 7.5],
                               rtol=1e-15)
    plain = run_all(edit_gradient="none")[0]
    assert plain.edited == ()
    np.testing.assert_array_equal(plain.after_apply, plain.after_minimize)


# -- settings -----------------------------------------------------------------------------------

def test_settings_refuse_bad_expressions_and_values_with_the_parser_message():
    config = lab.Config()
    with pytest.raises(SettingError, match="underscore.*'__import__' at column 1"):
        apply_settings(config, ["expression=__import__('os')"])
    with pytest.raises(SettingError, match="attribute access is not allowed: 'os.system'"):
        apply_settings(config, {"expression": "os.system('ls')"})
    with pytest.raises(SettingError, match="no variables"):
        apply_settings(config, {"expression": "2 + 3"})
    with pytest.raises(SettingError, match="expected name=number"):
        apply_settings(config, {"values": "x: 3"})
    with pytest.raises(SettingError, match="'abc' \\(for x\\) is not a number"):
        apply_settings(config, {"values": "x=abc"})
    with pytest.raises(SettingError, match="finite"):
        apply_settings(config, {"values": "x=inf"})
    with pytest.raises(SettingError, match="x_min"):
        apply_settings(config, {"x_min": 3.0, "x_max": 1.0})
    assert config.expression == "sin(x) - y**3" and config.values == "x=3, y=5"
    apply_settings(config, ["expression=sin(x) - y**3 + z", "values=x=3, y=5"])
    snap = next(lab.run(config))
    assert snap.variables == ("x", "y", "z") and snap.defaulted == ("z",)
    assert snap.values == (3.0, 5.0, 1.0)
    assert len(settings_of(config)) == 10


def test_cli_refuses_a_hostile_expression_with_exit_2_and_the_message(tmp_path):
    sentinel = tmp_path / "x.png"
    result = subprocess.run(
        [sys.executable, "-m", "vizlab.cli", "screenshot", "gradients",
         "--set", "expression=__import__('os')", "--out", str(sentinel)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "names starting with an underscore are not allowed: '__import__'" in result.stderr
    assert not sentinel.exists()


def test_cli_screenshot_of_a_typed_expression(tmp_path):
    from PIL import Image

    out = tmp_path / "gradients.png"
    result = subprocess.run(
        [sys.executable, "-m", "vizlab.cli", "screenshot", "gradients",
         "--set", "expression=sin(x) - y**3", "--steps", "3", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.size == (1280, 800)


# -- the lab view -------------------------------------------------------------------------------

def test_view_draws_engine_numbers_and_follows_settings(qtbot, shown_lab, previewed):
    view = shown_lab("gradients")
    # preview: the forward pass, no adjoints yet
    assert view.last_snapshot.step == 0
    assert view.graph.texts[-1] == "Sub = f\nvalue = -124.9\nadjoint = ?"
    assert view.graph.states[-1] == "pending"
    table = view.derivative_table
    assert [table.horizontalHeaderItem(c).text() for c in range(2)] == ["df/dx", "df/dy"]
    assert table.item(2, 0).text() == "-0.989992497" and table.item(2, 1).text() == "-75"
    assert view.apply_table.item(3, 0).text() == "3"  # x kept: its gradient was zeroed
    assert view.apply_table.item(3, 1).text() == "5.75"

    # type a new expression: everything redraws at once (preview_on_change)
    edit = view.settings_panel.controls["expression"]
    edit.setText("x**2 * y")
    edit.editingFinished.emit()
    previewed(view)
    snap = view.last_snapshot
    assert snap.expression == "x**2 * y"
    grid, f = view.f_plot.curve_data("f")
    np.testing.assert_allclose(grid, np.linspace(-5, 5, lab.CURVE_POINTS))
    np.testing.assert_allclose(f, grid**2 * 5.0, rtol=1e-14)
    np.testing.assert_allclose(view.df_plot.curve_data("df")[1], 2 * grid * 5.0, rtol=1e-14)
    assert table.item(2, 0).text() == "30" and table.item(2, 1).text() == "9"
    h, errors = view.error_plot.curve_data("df/dx")
    np.testing.assert_array_equal(h, snap.h_grid)
    np.testing.assert_array_equal(errors, snap.h_errors[0])

    # a refused expression shows the parser's message and changes nothing
    edit.setText("x.__class__")
    edit.editingFinished.emit()
    assert "attribute access is not allowed: 'x.__class__'" in view.settings_panel.message.text()
    assert view.config.expression == "x**2 * y"

    # a preset fills in expression and values, and gives the seed's numbers
    view.settings_panel.controls["preset"].setCurrentText("2*x - y")
    previewed(view)
    assert view.settings_panel.controls["expression"].text() == "2*x - y"
    assert view.settings_panel.controls["values"].text() == "x=1, y=2"
    assert table.item(2, 0).text() == "2" and table.item(2, 1).text() == "-1"
    # editing the expression afterwards makes the preset custom again
    edit.setText("2*x - y + 1")
    edit.editingFinished.emit()
    assert view.config.preset == "custom"
    assert view.settings_panel.controls["preset"].currentText() == "custom"

    # Step runs the backward pass one node at a time
    view.settings_panel.controls["preset"].setCurrentText("sin(x) - y**3")
    view.step()
    qtbot.waitUntil(lambda: view.last_snapshot.step == 1, timeout=5000)
    assert view.graph.states[-1] == "current"
    assert view.graph.texts[-1].endswith("adjoint = 1")
    view.step()
    qtbot.waitUntil(lambda: view.last_snapshot.step == 2, timeout=5000)
    pow_index = [n.label for n in view.last_snapshot.nodes].index("Pow")
    assert view.graph.states[pow_index] == "current"
    assert view.graph.states[-1] == "shown"
    assert "adjoint = -1" in view.graph.texts[pow_index]
    assert "Sub sends -1 × 1 = -1" in view.step_label.text()
    view.run()
    qtbot.waitUntil(lambda: view.runner.state == "finished", timeout=5000)
    assert view.last_snapshot.step == 5
    x_index = [n.label for n in view.last_snapshot.nodes].index("x")
    assert view.graph.texts[x_index] == "x\nvalue = 3\nadjoint = -0.99"
    assert "df/dx = -0.98999, df/dy = -75" in view.step_label.text()
    view.shutdown()


# -- local derivatives on the edges, kinks, missing error curves, wrapping ---------------------


def test_each_message_carries_its_local_derivative_formula_and_value():
    snap = run_all()[0]  # sin(x) - y**3 at x=3, y=5
    labels = [n.label for n in snap.nodes]
    edges = {(labels[m[0]], labels[m[2]]): (text, value, m[3]) for m, text, value in
             zip(snap.messages, snap.local_texts, snap.local_values)}
    assert edges[("Sin", "x")] == ("cos x", pytest.approx(math.cos(3)), pytest.approx(math.cos(3)))
    assert edges[("Pow", "y")] == ("3y^2", pytest.approx(75.0), pytest.approx(-75.0))
    assert edges[("Sub", "Sin")][:2] == ("1", 1.0) and edges[("Sub", "Pow")][:2] == ("-1", -1.0)
    # The message is the local derivative times the consumer's adjoint.
    for (consumer, _, _, message), value in zip(snap.messages, snap.local_values):
        assert message == pytest.approx(value * snap.nodes[consumer].adjoint)


@pytest.mark.parametrize("op, position, operands, text", [
    ("Sin", 0, ["x"], "cos x"), ("Cos", 0, ["Mul"], "-sin(Mul)"), ("Exp", 0, ["Div"], "exp(Div)"),
    ("Pow", 0, ["y", "3"], "3y^2"), ("Pow", 0, ["x", "2"], "2x"), ("Pow", 0, ["x", "0.5"],
                                                                     "0.5·x^-0.5"),
    ("Pow", 1, ["2", "x"], "2^x·ln 2"), ("Mul", 0, ["x", "y"], "y"), ("Mul", 1, ["x", "y"], "x"),
    ("Div", 0, ["x", "y"], "1/y"), ("Div", 1, ["x", "y"], "-x/y²"), ("Sub", 1, ["a", "b"], "-1"),
    ("Abs", 0, ["x"], "sign x"), ("Relu", 0, ["x"], "[x > 0]"), ("Log", 0, ["x"], "1/x"),
    ("Maximum", 0, ["x", "y"], "[x ≥ y]"), ("Sigmoid", 0, ["Add"], "σ(Add)(1 - σ(Add))"),
])
def test_local_derivative_formulas(op, position, operands, text):
    assert lab.local_derivative_text(op, position, operands) == text


def test_a_kink_is_flagged_and_explained_and_a_flat_or_missing_error_curve_says_why():
    relu = run_all(expression="relu(x) + abs(y)", values="x=0, y=0")[0]
    assert relu.kinks == ("relu of x = 0", "abs of y = 0")
    assert relu.numerical[0] == pytest.approx(0.5) and relu.automatic[0] == 0
    note = relu.mismatch_notes[0]
    assert note.startswith("df/dx: numerical 0.5 ≠ automatic 0. A kink (relu of x = 0")
    assert "subgradient" in note and "no h brings them together" in note
    assert relu.mismatch_notes[1] == ""  # abs at 0: both 0, by symmetry
    assert relu.error_notes[0] == "df/dx: flat at 0.5 for every h: a kink, not a bad h."
    assert relu.error_notes[1] == ("df/dy: no curve: the error is exactly 0 for every h (a log "
                                   "axis has no 0).")
    tie = run_all(expression="maximum(x, y)", values="x=1, y=1")[0]
    assert tie.kinks == ("maximum of x and y, equal at 1",)
    assert all("≠" in n for n in tie.mismatch_notes)
    smooth = run_all()[0]
    assert smooth.kinks == () and smooth.mismatch_notes == ("", "") and smooth.error_notes == ("", "")
    root = run_all(expression="sqrt(x)", values="x=0")[0]
    assert "not finite" in root.mismatch_notes[0]
    assert root.error_notes[0] == "df/dx: no curve: the derivative is not finite here."


def test_sympy_text_splits_between_terms_only():
    text = "2*x*y**2/(x**2*y**2 + 1) + y*exp(-y**2/2)*cos(x*y) - sign(x)"
    assert lab.split_terms(text) == ("2*x*y**2/(x**2*y**2 + 1)", "+ y*exp(-y**2/2)*cos(x*y)",
                                     "- sign(x)")
    assert lab.split_terms("-3*y**2") == ("-3*y**2",)
    assert lab.split_terms("-x + y - exp(-x - y)") == ("-x", "+ y", "- exp(-x - y)")

    from vizlab.labs.gradients import terms_html

    html = terms_html(text)
    # Breakable spaces only between terms: none inside one, and no '-' to break after.
    assert html.count(" ") == 2 and "-" not in html
    assert html.split(" ")[1].startswith("+&nbsp;y*exp(\u2011y**2/2)")
    long = " + ".join(f"a{i}*b{i}" for i in range(60))
    cut = terms_html(long, limit=40)
    assert cut.endswith("+&nbsp;a4*b4 …") and "a5*b5" not in cut  # whole terms, then …


def test_view_keeps_edge_labels_and_shows_kink_and_error_notes(qtbot, shown_lab, previewed):
    view = shown_lab("gradients")
    for step in range(1, 6):  # the whole backward pass of sin(x) - y**3
        view.step()
        qtbot.waitUntil(lambda s=step: view.last_snapshot.step == s, timeout=5000)
    shown = [label.toPlainText() for label in view.edge_labels if label.isVisible()]
    # Every edge the pass went through keeps its label: local derivative, then the message.
    assert sorted(shown) == sorted(["1\n→ 1", "-1\n→ -1", "cos x = -0.99\n→ -0.99",
                                    "3y^2 = 75\n→ -75"])
    colors = {label.toPlainText(): label.textItem.defaultTextColor().name()
              for label in view.edge_labels if label.isVisible()}
    assert colors["cos x = -0.99\n→ -0.99"] == "#e8590c"  # the last step's edge
    assert colors["3y^2 = 75\n→ -75"] == "#2f9e44"  # done earlier
    assert not view.mismatch_label.isVisible() and not view.error_note.isVisible()
    view.run()  # to the end of the pass, so new settings preview again
    qtbot.waitUntil(lambda: view.runner.state == "finished", timeout=5000)

    view.apply_settings({"expression": "relu(x) + abs(y)", "values": "x=0, y=0"})
    previewed(view)
    assert view.mismatch_label.isVisible()
    assert "A kink (relu of x = 0; abs of y = 0)" in view.mismatch_label.text()
    assert view.derivative_table.item(3, 0).text() == "⚠ 5.0e-01"
    assert view.error_note.isVisible() and "no curve" in view.error_note.text()
    view.shutdown()


def test_a_big_graph_takes_the_top_row_and_labels_follow_presentation_mode(
        qtbot, shown_lab, previewed):
    from vizlab.widgets import theme

    view = shown_lab("gradients")
    grid = view.layout_grid
    assert grid.getItemPosition(grid.indexOf(view.graph_box)) == (0, 0, 1, 2)
    view.apply_settings({"expression": "sigmoid(w1*x + b1)*w2 + tanh(w3*x + b2)*w4",
                         "values": "x=0.5, w1=0.3, w2=-1, w3=2, w4=0.7, b1=0.1, b2=-0.2"})
    previewed(view)
    assert len(view.last_snapshot.nodes) > 12 and view.big_graph
    assert grid.getItemPosition(grid.indexOf(view.graph_box)) == (0, 0, 1, 3)
    assert all(text.count("\n") == 1 for text, node in
               zip(view.graph.texts, view.last_snapshot.nodes) if node.kind != "constant")
    view.apply_settings({"expression": "sin(x) - y**3", "values": "x=3, y=5"})
    previewed(view)
    assert not view.big_graph
    assert grid.getItemPosition(grid.indexOf(view.graph_box)) == (0, 0, 1, 2)
    view.step()
    qtbot.waitUntil(lambda: view.last_snapshot.step == 1, timeout=5000)
    view.step()
    qtbot.waitUntil(lambda: view.last_snapshot.step == 2, timeout=5000)
    shown = [label for label in view.edge_labels if label.isVisible()]
    assert shown and shown[0].textItem.font().pointSize() == 9
    try:
        theme.set_presentation(True)
        assert all(label.textItem.font().pointSize() >= 14 for label in view.edge_labels
                   if label.isVisible())
    finally:
        theme.set_presentation(False)
    view.shutdown()
