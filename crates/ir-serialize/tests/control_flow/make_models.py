"""Small ONNX models with If, Loop, Scan and nested bodies for the IR control-flow tests.

Usage: python make_models.py OUT_DIR   (needs the `onnx` package of the project's venv)
"""
import os
import sys

import onnx
from onnx import helper as h, TensorProto as T

out = sys.argv[1]
# If
then_g = h.make_graph([h.make_node('Add',['a','b'],['t'])],'then',[],[h.make_tensor_value_info('t',T.FLOAT,[2])])
else_g = h.make_graph([h.make_node('Sub',['a','b'],['e'])],'else',[],[h.make_tensor_value_info('e',T.FLOAT,[2])])
g = h.make_graph([h.make_node('If',['c'],['y'],then_branch=then_g,else_branch=else_g)],'g',
  [h.make_tensor_value_info('c',T.BOOL,[]),h.make_tensor_value_info('a',T.FLOAT,[2]),h.make_tensor_value_info('b',T.FLOAT,[2])],
  [h.make_tensor_value_info('y',T.FLOAT,[2])])
onnx.save(h.make_model(g,opset_imports=[h.make_opsetid('',16)]),os.path.join(out, 'if.onnx'))
# Loop: body(iter, cond, x) -> cond_out, x+a, scan x*iter
body = h.make_graph([
  h.make_node('Identity',['cond_in'],['cond_out']),
  h.make_node('Add',['x_in','a'],['x_out']),
  h.make_node('Cast',['iter'],['itf'],to=T.FLOAT),
  h.make_node('Mul',['x_in','itf'],['scan']),
 ],'body',
 [h.make_tensor_value_info('iter',T.INT64,[]),h.make_tensor_value_info('cond_in',T.BOOL,[]),h.make_tensor_value_info('x_in',T.FLOAT,[2])],
 [h.make_tensor_value_info('cond_out',T.BOOL,[]),h.make_tensor_value_info('x_out',T.FLOAT,[2]),h.make_tensor_value_info('scan',T.FLOAT,[2])])
g = h.make_graph([h.make_node('Loop',['M','','x0'],['xf','scans'],body=body)],'g',
  [h.make_tensor_value_info('M',T.INT64,[]),h.make_tensor_value_info('x0',T.FLOAT,[2]),h.make_tensor_value_info('a',T.FLOAT,[2])],
  [h.make_tensor_value_info('xf',T.FLOAT,[2]),h.make_tensor_value_info('scans',T.FLOAT,[None,2])])
onnx.save(h.make_model(g,opset_imports=[h.make_opsetid('',16)]),os.path.join(out, 'loop.onnx'))
# Scan: cumulative sum
body = h.make_graph([h.make_node('Add',['s_in','x'],['s_out']),h.make_node('Identity',['s_out'],['y'])],'body',
 [h.make_tensor_value_info('s_in',T.FLOAT,[2]),h.make_tensor_value_info('x',T.FLOAT,[2])],
 [h.make_tensor_value_info('s_out',T.FLOAT,[2]),h.make_tensor_value_info('y',T.FLOAT,[2])])
g = h.make_graph([h.make_node('Scan',['s0','xs'],['sf','ys'],body=body,num_scan_inputs=1)],'g',
  [h.make_tensor_value_info('s0',T.FLOAT,[2]),h.make_tensor_value_info('xs',T.FLOAT,[3,2])],
  [h.make_tensor_value_info('sf',T.FLOAT,[2]),h.make_tensor_value_info('ys',T.FLOAT,[3,2])])
onnx.save(h.make_model(g,opset_imports=[h.make_opsetid('',16)]),os.path.join(out, 'scan.onnx'))

# Nested: a Loop whose body holds an If reading an outer-scope value two levels up.
inner_then = h.make_graph([h.make_node('Add', ['x_in', 'a'], ['t'])], 'then', [],
                          [h.make_tensor_value_info('t', T.FLOAT, [2])])
inner_else = h.make_graph([h.make_node('Sub', ['x_in', 'a'], ['e'])], 'else', [],
                          [h.make_tensor_value_info('e', T.FLOAT, [2])])
body = h.make_graph([
    h.make_node('Identity', ['cond_in'], ['cond_out']),
    h.make_node('Constant', [], ['two'], value=h.make_tensor('two', T.INT64, [], [2])),
    h.make_node('Mod', ['iter', 'two'], ['m']),
    h.make_node('Cast', ['m'], ['even'], to=T.BOOL),
    h.make_node('If', ['even'], ['x_out'], then_branch=inner_then, else_branch=inner_else),
], 'body',
    [h.make_tensor_value_info('iter', T.INT64, []), h.make_tensor_value_info('cond_in', T.BOOL, []),
     h.make_tensor_value_info('x_in', T.FLOAT, [2])],
    [h.make_tensor_value_info('cond_out', T.BOOL, []), h.make_tensor_value_info('x_out', T.FLOAT, [2])])
g = h.make_graph([h.make_node('Loop', ['M', '', 'x0'], ['xf'], body=body)], 'g',
                 [h.make_tensor_value_info('M', T.INT64, []), h.make_tensor_value_info('x0', T.FLOAT, [2]),
                  h.make_tensor_value_info('a', T.FLOAT, [2])],
                 [h.make_tensor_value_info('xf', T.FLOAT, [2])])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 16)]), os.path.join(out, 'nested.onnx'))
