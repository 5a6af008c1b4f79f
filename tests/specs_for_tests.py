"""Small specs the compiler tests share, written as YAML text like a user would."""

LINES = """\
synthcircuits: 1
name: t-lines
families:
  - name: gabor
    layer: conv2d0
    orientations: 4
    phases: [0, 180]
    kernel: {gabor: {size: 5, wavelength: 4, sigma: 1.2}}
  - name: cgabor
    layer: conv2d1
    orientations: 4
    inputs:
      - from: gabor
        center: {}
        tuning: {excite: 1.0, width_deg: 10}
  - name: line
    layer: conv2d2
    orientations: 4
    bias: -1
    inputs:
      - from: cgabor
        along_line: {length: 1, width: 0.5}
        tuning: {excite: 1.0, inhibit: 0.5, width_deg: 20}
"""

CURVES_IN_3B = LINES + """\
  - name: early_curve
    layer: mixed3a
    branch: 3x3
    orientations: 4
    period: 360
    inputs:
      - from: line
        along_arc: {radius: 1.5}
        tuning: {excite: 1.0, inhibit: 0.4, width_deg: 30}
  - name: pass_line
    layer: mixed3a
    branch: 1x1
    orientations: 4
    inputs:
      - from: line
        center: {}
        tuning: {excite: 1.0, width_deg: 5}
  - name: curve
    layer: mixed3b
    units: [3b:379, 3b:406, 3b:385, 3b:343]
    orientations: [243, 268.5, 290, 358]
    period: 360
    inputs:
      - from: early_curve
        along_arc: {radius: 2}
        tuning: {table: {0: 1.0, 45: 0.25, 90: 0.0, 135: -0.3, 180: -1.3}}
      - from: pass_line
        center: {}
        tuning: {excite: 0.5, width_deg: 30}
connections:
  - {from: "early_curve[0]", to: "3b:379", weight: 0.25}
"""
